import type { ModelSpec } from "../../../shared/src/fl/model-spec.js";
import {
  buildEvaluateTask,
  buildTrainTask,
  type TaskSpec,
  type TrainTaskInput,
} from "../../../shared/src/fl/task.js";
import { networkFor, taskKind } from "../../../shared/src/fl/task-kinds.js";
import { deriveSeed } from "../../../shared/src/random.js";
import type { Phase, Plan, RoundSlot } from "../plan.js";

/**
 * What a site needs to train in a round: everything its phase configures travels with the task,
 * and the round's seed makes its local randomness reproducible.
 */
export function trainTaskSpec(plan: Plan, model: ModelSpec, slot: RoundSlot): TaskSpec {
  const { phase, round, roundInPhase } = slot;
  // The phase's options are checked against its kind's schema by this parse (and at plan load),
  // which TypeScript cannot follow from a phase's `task` to its `options`.
  const input = {
    model: networkFor(model, phase.task),
    task: phase.task,
    train: phase.train,
    options: phase.options,
    local: phase.local,
    labelFraction: phase.labelFraction,
    fedproxMu: phase.fedproxMu,
    seed: plan.seed * 100_003 + round,
    roundInPhase,
    phaseRounds: phase.rounds,
    pipeline: phase.pipeline,
  } as TrainTaskInput;
  return { kind: "train", spec: buildTrainTask(input) };
}

/**
 * Score the phase's model on each site's held-out test split, with the plan's bootstrap and
 * temperature scan; the round's seed makes the sites' resamples reproducible.
 */
export function evaluateTaskSpec(model: ModelSpec, phase: Phase, plan: Plan, round: number): TaskSpec {
  return {
    kind: "evaluate",
    spec: buildEvaluateTask({
      model: networkFor(model, phase.task),
      split: "test",
      task: phase.task,
      bootstrap: plan.evaluationBootstrap,
      temperatureScaling: plan.evaluationTemperatureScaling,
      seed: deriveSeed(plan.seed, "evaluation", round),
    }),
  };
}

/** Only kinds whose model has a classification head are evaluated (not the self-supervised ones). */
export function evaluates(phase: Phase): boolean {
  return taskKind(phase.task).evaluates;
}
