/**
 * Which waiting job an idle worker takes: the oldest one for a site it still has loaded (no
 * images to render again), else the oldest of all. Returns its index, or -1 when none waits.
 */
export function pickJob(
  waiting: readonly { readonly siteId: string }[],
  loaded: (siteId: string) => boolean,
): number {
  if (waiting.length === 0) return -1;
  const warm = waiting.findIndex((job) => loaded(job.siteId));
  return Math.max(warm, 0);
}
