// Original file: ../../proto/convotic/plugin/v1/manifest.proto

/**
 * What a cron does when a tick comes while the previous run is still running.
 */
export const OverlapPolicy = {
  /**
   * Same as OVERLAP_POLICY_SKIP.
   */
  OVERLAP_POLICY_UNSPECIFIED: 'OVERLAP_POLICY_UNSPECIFIED',
  /**
   * The tick is skipped and recorded as skipped (the default).
   */
  OVERLAP_POLICY_SKIP: 'OVERLAP_POLICY_SKIP',
  /**
   * The tick runs alongside the previous run.
   */
  OVERLAP_POLICY_ALLOW: 'OVERLAP_POLICY_ALLOW',
} as const;

/**
 * What a cron does when a tick comes while the previous run is still running.
 */
export type OverlapPolicy =
  /**
   * Same as OVERLAP_POLICY_SKIP.
   */
  | 'OVERLAP_POLICY_UNSPECIFIED'
  | 0
  /**
   * The tick is skipped and recorded as skipped (the default).
   */
  | 'OVERLAP_POLICY_SKIP'
  | 1
  /**
   * The tick runs alongside the previous run.
   */
  | 'OVERLAP_POLICY_ALLOW'
  | 2

/**
 * What a cron does when a tick comes while the previous run is still running.
 */
export type OverlapPolicy__Output = typeof OverlapPolicy[keyof typeof OverlapPolicy]
