// Original file: ../../proto/convotic/plugin/v1/manifest.proto


/**
 * A workflow node type for the visual builder.
 */
export interface NodeDef {
  /**
   * Type id, unique in the workspace: [a-z0-9_.-], e.g. "loyalty_lookup".
   */
  'type'?: (string);
  /**
   * Version of the node definition (semver). Several versions may be registered.
   */
  'version'?: (string);
  'display_name'?: (string);
  'description'?: (string);
  'category'?: (string);
  /**
   * Icon: a URL, a data: URI or the name of a built-in icon.
   */
  'icon'?: (string);
  /**
   * JSON Schema of the input (UTF-8 JSON text). Empty = any JSON value.
   */
  'input_schema'?: (string);
  /**
   * JSON Schema of the output (UTF-8 JSON text). Empty = any JSON value.
   */
  'output_schema'?: (string);
  /**
   * Named output branches, e.g. ["found", "not_found"]. Empty = one branch, "default".
   */
  'branches'?: (string)[];
  /**
   * Id of a block whose connection the node needs, or empty.
   */
  'connection_block'?: (string);
  /**
   * Deadline for one invocation, 0 = default (30 s).
   */
  'timeout_ms'?: (number);
}

/**
 * A workflow node type for the visual builder.
 */
export interface NodeDef__Output {
  /**
   * Type id, unique in the workspace: [a-z0-9_.-], e.g. "loyalty_lookup".
   */
  'type': (string);
  /**
   * Version of the node definition (semver). Several versions may be registered.
   */
  'version': (string);
  'display_name': (string);
  'description': (string);
  'category': (string);
  /**
   * Icon: a URL, a data: URI or the name of a built-in icon.
   */
  'icon': (string);
  /**
   * JSON Schema of the input (UTF-8 JSON text). Empty = any JSON value.
   */
  'input_schema': (string);
  /**
   * JSON Schema of the output (UTF-8 JSON text). Empty = any JSON value.
   */
  'output_schema': (string);
  /**
   * Named output branches, e.g. ["found", "not_found"]. Empty = one branch, "default".
   */
  'branches': (string)[];
  /**
   * Id of a block whose connection the node needs, or empty.
   */
  'connection_block': (string);
  /**
   * Deadline for one invocation, 0 = default (30 s).
   */
  'timeout_ms': (number);
}
