// Original file: ../../proto/convotic/plugin/v1/manifest.proto


/**
 * A background message handler consuming a topic.
 */
export interface WorkerDef {
  /**
   * Topic: 1-128 characters of [A-Za-z0-9_-], segments separated by '.', no wildcards.
   */
  'topic'?: (string);
  /**
   * Handler name, unique in the module; default: the topic.
   */
  'name'?: (string);
  /**
   * Messages this handler works on at once, 0 = default (1).
   */
  'concurrency'?: (number);
  /**
   * Deliveries before the message goes to dead letters, 0 = default (5).
   */
  'max_attempts'?: (number);
  /**
   * Deadline for one delivery, 0 = default (60 s).
   */
  'timeout_ms'?: (number);
}

/**
 * A background message handler consuming a topic.
 */
export interface WorkerDef__Output {
  /**
   * Topic: 1-128 characters of [A-Za-z0-9_-], segments separated by '.', no wildcards.
   */
  'topic': (string);
  /**
   * Handler name, unique in the module; default: the topic.
   */
  'name': (string);
  /**
   * Messages this handler works on at once, 0 = default (1).
   */
  'concurrency': (number);
  /**
   * Deliveries before the message goes to dead letters, 0 = default (5).
   */
  'max_attempts': (number);
  /**
   * Deadline for one delivery, 0 = default (60 s).
   */
  'timeout_ms': (number);
}
