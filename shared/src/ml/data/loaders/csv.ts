/** One data row of a CSV file, with its 1-based line number for error messages. */
export interface CsvRow {
  readonly line: number;
  readonly values: Readonly<Record<string, string>>;
  /** Number of fields on the line (differs from the header's on malformed rows). */
  readonly fieldCount: number;
}

export interface CsvTable {
  readonly header: readonly string[];
  readonly rows: readonly CsvRow[];
}

/**
 * Parses RFC 4180 CSV: quoted fields with doubled quotes and embedded commas or newlines, CRLF
 * or LF, an optional UTF-8 BOM. Blank lines are skipped. Header names are trimmed.
 */
export function parseCsv(text: string): CsvTable {
  const records: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRecord = (): void => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === "")) records.push({ line: recordLine, fields });
    fields = [];
    field = "";
  };
  for (; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === "\n") line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field === "") quoted = true;
    else if (ch === ",") {
      fields.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      endRecord();
      line++;
      recordLine = line;
    } else field += ch;
  }
  if (field !== "" || fields.length > 0) endRecord();
  const [head, ...body] = records;
  const header = (head?.fields ?? []).map((h) => h.trim());
  return {
    header,
    rows: body.map((record) => ({
      line: record.line,
      fieldCount: record.fields.length,
      values: Object.fromEntries(header.map((name, k) => [name, record.fields[k] ?? ""])),
    })),
  };
}
