import { mocoWorkload } from "./moco.js";
import { multitaskWorkload } from "./multitask.js";
import { referenceWorkload } from "./reference.js";
import { smallCnnWorkload } from "./small-cnn.js";
import type { WorkloadDefinition, WorkloadName } from "./workload.js";

export const WORKLOADS: Readonly<Record<WorkloadName, WorkloadDefinition>> = {
  reference: referenceWorkload,
  "small-cnn": smallCnnWorkload,
  multitask: multitaskWorkload,
  moco: mocoWorkload,
};
