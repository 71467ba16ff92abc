import { createLogUpdate } from "log-update";

/**
 * A block of lines held at the bottom of a terminal (the progress bars) with log lines printed
 * above it. log-update owns the block: it remembers how many rows its last frame took and erases
 * exactly those before drawing again. Each change leaves as a single write (erase, log lines,
 * new frame), so the terminal never shows the bars missing or half drawn between two writes.
 */
export class LiveRegion {
  private pending = "";
  private frame = "";
  private readonly draw: ReturnType<typeof createLogUpdate>;
  private readonly onResize = () => this.update(this.lines);
  private lines: readonly string[] = [];

  constructor(private readonly terminal: NodeJS.WriteStream) {
    // log-update writes into this buffer; flush() hands the whole change to the terminal at once.
    const buffer = {
      isTTY: true,
      get columns() {
        return terminal.columns;
      },
      get rows() {
        return terminal.rows;
      },
      write: (chunk: string) => {
        this.pending += chunk;
        return true;
      },
    };
    this.draw = createLogUpdate(buffer as unknown as NodeJS.WritableStream);
    terminal.on("resize", this.onResize);
  }

  /** Redraws the block; a line wider than the terminal is cut so that each stays one row. */
  update(lines: readonly string[]): void {
    this.lines = lines;
    const width = Math.max(1, (this.terminal.columns ?? 80) - 1);
    this.frame = lines.map((line) => (line.length > width ? line.slice(0, width) : line)).join("\n");
    this.draw(this.frame);
    this.flush();
  }

  /** Prints text above the block; the terminal wraps it, so a long line stays one line of text. */
  log(text: string): void {
    this.draw.clear();
    this.pending += text.endsWith("\n") ? text : `${text}\n`;
    this.draw(this.frame);
    this.flush();
  }

  /** Leaves the last frame on the screen and gives the terminal back. */
  stop(): void {
    this.terminal.off("resize", this.onResize);
    this.draw.done();
    this.flush();
  }

  private flush(): void {
    if (this.pending === "") return;
    this.terminal.write(this.pending);
    this.pending = "";
  }
}
