// Original file: ../../proto/convotic/plugin/v1/work.proto


export interface BlockTestResult {
  /**
   * Whether the credentials work.
   */
  'ok'?: (boolean);
  /**
   * Why not (the provider's reason), or a note on success.
   */
  'message'?: (string);
  /**
   * A label for the account the credentials belong to, e.g. "+33 6 12 34 56 78", may be empty.
   */
  'account_label'?: (string);
}

export interface BlockTestResult__Output {
  /**
   * Whether the credentials work.
   */
  'ok': (boolean);
  /**
   * Why not (the provider's reason), or a note on success.
   */
  'message': (string);
  /**
   * A label for the account the credentials belong to, e.g. "+33 6 12 34 56 78", may be empty.
   */
  'account_label': (string);
}
