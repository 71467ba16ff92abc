import { ErrorCode, FlError } from "../errors.js";
import { assertConfusion } from "./confusion.js";

export interface ClassMetrics {
  readonly name: string;
  /** tp / predicted-as-this-class; 0 when nothing was predicted as this class. */
  readonly precision: number;
  /** tp / examples-of-this-class; 0 when the class has no examples. */
  readonly recall: number;
  /** 2tp / (2tp + fp + fn); 0 when that is 0/0. */
  readonly f1: number;
  /** Number of examples whose true class is this one. */
  readonly support: number;
}

export interface ClassificationReport {
  /** Number of examples. */
  readonly count: number;
  /** Correct / count; 0 when count is 0. */
  readonly accuracy: number;
  /** Unweighted mean F1 over all classes, including classes without support. */
  readonly macroF1: number;
  readonly perClass: readonly ClassMetrics[];
  /** Copy of the input matrix: rows = true class, columns = predicted class. */
  readonly confusion: number[][];
}

/**
 * Per-class precision/recall/F1, accuracy and macro-F1 from a confusion matrix (rows = true,
 * columns = predicted). 0/0 gives 0, as scikit-learn's zero_division=0. Class names default to
 * the class indices.
 */
export function classificationReport(
  confusion: number[][],
  classNames?: readonly string[],
): ClassificationReport {
  const size = assertConfusion(confusion);
  if (classNames !== undefined && classNames.length !== size) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `${classNames.length} class names for a ${size}x${size} confusion matrix`,
    );
  }
  const rowSums = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const colSums = Array.from({ length: size }, (_, p) =>
    confusion.reduce((sum, row) => sum + (row[p] as number), 0),
  );
  const count = rowSums.reduce((a, b) => a + b, 0);
  let correct = 0;
  const perClass: ClassMetrics[] = [];
  for (let c = 0; c < size; c++) {
    const tp = (confusion[c] as number[])[c] as number;
    const support = rowSums[c] as number;
    const predicted = colSums[c] as number;
    correct += tp;
    perClass.push({
      name: classNames?.[c] ?? String(c),
      precision: divide(tp, predicted),
      recall: divide(tp, support),
      f1: divide(2 * tp, support + predicted),
      support,
    });
  }
  return {
    count,
    accuracy: divide(correct, count),
    macroF1: perClass.reduce((sum, metrics) => sum + metrics.f1, 0) / size,
    perClass,
    confusion: confusion.map((row) => [...row]),
  };
}

function divide(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}
