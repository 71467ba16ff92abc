import { ErrorCode, FlError } from "../errors.js";
import type { EvaluationStatistics } from "./evaluation-statistics.js";
import { poolStatistics } from "./pool-statistics.js";

/**
 * poolStatistics over sites that arrive one at a time, holding the running pool and not the
 * sites: what lets a coordinator pool hundreds of sites' histograms and replicates in the memory
 * of one. The result is bit for bit poolStatistics(all) when the sites share a histogram
 * resolution, because the running pool adds each site in the same order from the
 * same zero. Sites of different resolutions are merged at the coarsest common one, which
 * re-groups the float sums; then `pooled()` says so with "mixed", and a caller that needs the
 * exact batch figures pools the sites again with poolStatistics.
 */
export class StatisticsFold {
  private pool: EvaluationStatistics | undefined;
  private mixed = false;
  private sites = 0;

  add(stats: EvaluationStatistics): void {
    const pool = this.pool;
    this.sites++;
    if (pool === undefined) {
      this.pool = poolStatistics([stats]);
      return;
    }
    if (stats.scores.length !== pool.scores.length) {
      throw new FlError(
        ErrorCode.InvalidArgument,
        `statistics ${this.sites - 1} have ${stats.scores.length} classes, the first have ${pool.scores.length}; every site must use the same classes`,
      );
    }
    // Only the float sums (scoreSum, confidenceSum) re-group when merged; counts, the bootstrap's
    // included, stay exact at any resolution.
    if (stats.bins !== pool.bins) this.mixed = true;
    this.pool = poolStatistics([pool, stats]);
  }

  /** The pool of the sites added so far (undefined before the first), and whether their resolutions differed. */
  pooled(): { statistics: EvaluationStatistics; mixed: boolean } | undefined {
    return this.pool === undefined ? undefined : { statistics: this.pool, mixed: this.mixed };
  }
}
