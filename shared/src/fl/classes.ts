/**
 * The classes every model of the federation predicts (the study-level labels of the
 * SIIM-FISABIO-RSNA COVID-19 data), in the order of label indices and of every confusion
 * matrix's rows and columns. Part of the contract: hospitals and coordinator must agree on it.
 */
export const CLASS_NAMES = [
  "Negative for Pneumonia",
  "Typical Appearance",
  "Indeterminate Appearance",
  "Atypical Appearance",
] as const;
export const NUM_CLASSES = CLASS_NAMES.length;
/** Short names for tables and file names, same order as CLASS_NAMES. */
export const CLASS_KEYS = ["negative", "typical", "indeterminate", "atypical"] as const;
