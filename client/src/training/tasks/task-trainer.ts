import type { TrainTaskOf } from "../../../../shared/src/fl/task.js";
import type { TaskKindName } from "../../../../shared/src/fl/task-kinds.js";
import type { ImageSet, SiteSplits } from "../../../../shared/src/ml/data/types.js";
import type { LoadedBackend } from "../../../../shared/src/ml/tf/backend.js";
import type { ModelWeights } from "../../../../shared/src/weights/types.js";
import type { NetworkCache } from "../network-cache.js";
import type { Progress, TrainOutcome } from "../trainer.js";

/** What the trainers of a trainer process share: the backend, the site's data, the networks built. */
export interface TrainerSite {
  readonly backend: LoadedBackend;
  readonly data: SiteSplits;
  readonly networks: NetworkCache;
}

/** One training round of a task kind on the site's training images (labels as the kind may use them). */
export type TaskTrainer<K extends TaskKindName> = (
  task: TrainTaskOf<K>,
  weights: ModelWeights,
  images: ImageSet,
  onProgress: Progress,
) => Promise<TrainOutcome>;

/** Makes a kind's trainer for a site; state the kind keeps between rounds lives in the closure. */
export type TaskTrainerFactory<K extends TaskKindName> = (site: TrainerSite) => TaskTrainer<K>;
