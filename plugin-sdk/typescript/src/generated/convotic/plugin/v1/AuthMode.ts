// Original file: ../../proto/convotic/plugin/v1/manifest.proto

/**
 * How callers of a route authenticate.
 */
export const AuthMode = {
  /**
   * Same as AUTH_MODE_API_KEY.
   */
  AUTH_MODE_UNSPECIFIED: 'AUTH_MODE_UNSPECIFIED',
  /**
   * A valid X-API-Key of the module's workspace is required (the default).
   */
  AUTH_MODE_API_KEY: 'AUTH_MODE_API_KEY',
  /**
   * No authentication (the seeds' `auth: false`): the module verifies callers itself.
   */
  AUTH_MODE_NONE: 'AUTH_MODE_NONE',
} as const;

/**
 * How callers of a route authenticate.
 */
export type AuthMode =
  /**
   * Same as AUTH_MODE_API_KEY.
   */
  | 'AUTH_MODE_UNSPECIFIED'
  | 0
  /**
   * A valid X-API-Key of the module's workspace is required (the default).
   */
  | 'AUTH_MODE_API_KEY'
  | 1
  /**
   * No authentication (the seeds' `auth: false`): the module verifies callers itself.
   */
  | 'AUTH_MODE_NONE'
  | 2

/**
 * How callers of a route authenticate.
 */
export type AuthMode__Output = typeof AuthMode[keyof typeof AuthMode]
