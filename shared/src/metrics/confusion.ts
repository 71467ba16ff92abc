import { ErrorCode, FlError } from "../errors.js";

/** counts[t][p] = number of examples of true class t predicted as p. */
export function confusionMatrix(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  numClasses: number,
): number[][] {
  assertClassCount(numClasses);
  if (yTrue.length !== yPred.length) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `${yTrue.length} true labels but ${yPred.length} predictions; they must pair up`,
    );
  }
  const matrix = emptyMatrix(numClasses);
  for (let i = 0; i < yTrue.length; i++) {
    const t = checkLabel(yTrue[i], numClasses, "true label", i);
    const p = checkLabel(yPred[i], numClasses, "prediction", i);
    (matrix[t] as number[])[p] = ((matrix[t] as number[])[p] as number) + 1;
  }
  return matrix;
}

/** Element-wise sum of same-sized confusion matrices: the pooled matrix over sites. */
export function sumConfusions(matrices: ReadonlyArray<number[][]>): number[][] {
  const first = matrices[0];
  if (first === undefined) {
    throw new FlError(ErrorCode.InvalidArgument, "Cannot sum an empty list of confusion matrices");
  }
  const size = assertConfusion(first, 0);
  const total = emptyMatrix(size);
  for (const [m, matrix] of matrices.entries()) {
    if (assertConfusion(matrix, m) !== size) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `Confusion matrix ${m} is ${matrix.length}x${matrix.length}, the first is ${size}x${size}`,
      );
    }
    for (let t = 0; t < size; t++) {
      for (let p = 0; p < size; p++) {
        (total[t] as number[])[p] =
          ((total[t] as number[])[p] as number) + ((matrix[t] as number[])[p] as number);
      }
    }
  }
  return total;
}

/** Index of the largest value of each row of a row-major N x numClasses matrix; ties go to the lowest index. */
export function argmaxRows(probabilities: Float32Array, numClasses: number): Int32Array {
  assertClassCount(numClasses);
  if (probabilities.length % numClasses !== 0) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `${probabilities.length} values are not a whole number of rows of ${numClasses} classes`,
    );
  }
  const rows = probabilities.length / numClasses;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const start = r * numClasses;
    let best = 0;
    let bestValue = probabilities[start] as number;
    for (let c = 1; c < numClasses; c++) {
      const value = probabilities[start + c] as number;
      // NaN never wins, except that any number replaces a NaN in the first column.
      if (value > bestValue || (Number.isNaN(bestValue) && !Number.isNaN(value))) {
        best = c;
        bestValue = value;
      }
    }
    out[r] = best;
  }
  return out;
}

/** Checks the matrix is square with non-negative finite counts; returns its size. */
export function assertConfusion(matrix: readonly (readonly number[])[], which: number | string = ""): number {
  const label = which === "" ? "Confusion matrix" : `Confusion matrix ${which}`;
  if (!Array.isArray(matrix) || matrix.length === 0) {
    throw new FlError(ErrorCode.InvalidArgument, `${label} must be a non-empty square array of rows`);
  }
  for (const [t, row] of matrix.entries()) {
    if (!Array.isArray(row) || row.length !== matrix.length) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `${label} is not square: row ${t} does not have ${matrix.length} entries`,
      );
    }
    for (const [p, value] of row.entries()) {
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        throw new FlError(
          ErrorCode.InvalidArgument,
          `${label} has ${value} at [${t}][${p}]; counts must be >= 0`,
        );
      }
    }
  }
  return matrix.length;
}

function emptyMatrix(size: number): number[][] {
  return Array.from({ length: size }, () => new Array<number>(size).fill(0));
}

function assertClassCount(numClasses: number): void {
  if (!Number.isSafeInteger(numClasses) || numClasses <= 0) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `Number of classes must be a positive integer, got ${numClasses}`,
    );
  }
}

function checkLabel(value: number | undefined, numClasses: number, what: string, index: number): number {
  if (value === undefined || !Number.isInteger(value) || value < 0 || value >= numClasses) {
    throw new FlError(
      ErrorCode.InvalidArgument,
      `The ${what} at index ${index} is ${value}; labels must be integers in [0, ${numClasses})`,
    );
  }
  return value;
}
