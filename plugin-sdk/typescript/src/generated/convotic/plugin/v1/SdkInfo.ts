// Original file: ../../proto/convotic/plugin/v1/manifest.proto


export interface SdkInfo {
  /**
   * e.g. "convotic-plugin-sdk-rust", "@convotic/block-sdk"
   */
  'name'?: (string);
  /**
   * e.g. "0.1.0"
   */
  'version'?: (string);
  /**
   * e.g. "rust", "typescript", "python"
   */
  'language'?: (string);
}

export interface SdkInfo__Output {
  /**
   * e.g. "convotic-plugin-sdk-rust", "@convotic/block-sdk"
   */
  'name': (string);
  /**
   * e.g. "0.1.0"
   */
  'version': (string);
  /**
   * e.g. "rust", "typescript", "python"
   */
  'language': (string);
}
