// Original file: ../../proto/convotic/plugin/v1/manifest.proto

/**
 * What happens to ticks missed while the supervisor was down.
 */
export const CatchUpPolicy = {
  /**
   * Same as CATCH_UP_POLICY_NONE.
   */
  CATCH_UP_POLICY_UNSPECIFIED: 'CATCH_UP_POLICY_UNSPECIFIED',
  /**
   * Missed ticks are recorded as missed and not run (the default).
   */
  CATCH_UP_POLICY_NONE: 'CATCH_UP_POLICY_NONE',
  /**
   * If any ticks were missed, one run happens at start-up.
   */
  CATCH_UP_POLICY_ONCE: 'CATCH_UP_POLICY_ONCE',
} as const;

/**
 * What happens to ticks missed while the supervisor was down.
 */
export type CatchUpPolicy =
  /**
   * Same as CATCH_UP_POLICY_NONE.
   */
  | 'CATCH_UP_POLICY_UNSPECIFIED'
  | 0
  /**
   * Missed ticks are recorded as missed and not run (the default).
   */
  | 'CATCH_UP_POLICY_NONE'
  | 1
  /**
   * If any ticks were missed, one run happens at start-up.
   */
  | 'CATCH_UP_POLICY_ONCE'
  | 2

/**
 * What happens to ticks missed while the supervisor was down.
 */
export type CatchUpPolicy__Output = typeof CatchUpPolicy[keyof typeof CatchUpPolicy]
