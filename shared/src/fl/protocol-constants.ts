/**
 * How long a pull waits for a task: the site asks for this and the coordinator holds no pull
 * longer. Between tasks a site's only sign of life is its next pull, so this also bounds from
 * below how long the coordinator may wait before it counts a silent site as gone.
 */
export const LONG_POLL_MS = 20_000;

/**
 * The smallest heartbeat timeout: a long-poll, plus time for its answer to travel back and the
 * next pull to arrive (and for the coordinator's once-a-second sweep).
 */
export const MIN_HEARTBEAT_TIMEOUT_MS = LONG_POLL_MS + 5_000;

/**
 * The reason a coordinator gives with "done" when its plan is complete. Any other reason (a
 * failed federation, a coordinator shutting down) means the site did not see the federation
 * finish, and `fl client` exits non-zero.
 */
export const PLAN_COMPLETE_REASON = "the plan is complete";
