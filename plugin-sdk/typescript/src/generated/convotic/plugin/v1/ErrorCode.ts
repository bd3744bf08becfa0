// Original file: ../../proto/convotic/plugin/v1/work.proto

export const ErrorCode = {
  ERROR_CODE_UNSPECIFIED: 'ERROR_CODE_UNSPECIFIED',
  /**
   * The handler returned or threw an error.
   */
  ERROR_CODE_HANDLER: 'ERROR_CODE_HANDLER',
  /**
   * The input was invalid (bad JSON, failed validation in the module).
   */
  ERROR_CODE_BAD_INPUT: 'ERROR_CODE_BAD_INPUT',
  /**
   * Nothing is registered for this route / topic / node / block / action / cron.
   */
  ERROR_CODE_NOT_FOUND: 'ERROR_CODE_NOT_FOUND',
  /**
   * Stopped by a Cancel frame.
   */
  ERROR_CODE_CANCELLED: 'ERROR_CODE_CANCELLED',
  /**
   * The invocation's deadline passed.
   */
  ERROR_CODE_DEADLINE_EXCEEDED: 'ERROR_CODE_DEADLINE_EXCEEDED',
  /**
   * The module is shutting down or over capacity; the caller may retry elsewhere or later.
   */
  ERROR_CODE_UNAVAILABLE: 'ERROR_CODE_UNAVAILABLE',
  /**
   * A bug in the module or SDK (e.g. a panic in a handler).
   */
  ERROR_CODE_INTERNAL: 'ERROR_CODE_INTERNAL',
} as const;

export type ErrorCode =
  | 'ERROR_CODE_UNSPECIFIED'
  | 0
  /**
   * The handler returned or threw an error.
   */
  | 'ERROR_CODE_HANDLER'
  | 1
  /**
   * The input was invalid (bad JSON, failed validation in the module).
   */
  | 'ERROR_CODE_BAD_INPUT'
  | 2
  /**
   * Nothing is registered for this route / topic / node / block / action / cron.
   */
  | 'ERROR_CODE_NOT_FOUND'
  | 3
  /**
   * Stopped by a Cancel frame.
   */
  | 'ERROR_CODE_CANCELLED'
  | 4
  /**
   * The invocation's deadline passed.
   */
  | 'ERROR_CODE_DEADLINE_EXCEEDED'
  | 5
  /**
   * The module is shutting down or over capacity; the caller may retry elsewhere or later.
   */
  | 'ERROR_CODE_UNAVAILABLE'
  | 6
  /**
   * A bug in the module or SDK (e.g. a panic in a handler).
   */
  | 'ERROR_CODE_INTERNAL'
  | 7

export type ErrorCode__Output = typeof ErrorCode[keyof typeof ErrorCode]
