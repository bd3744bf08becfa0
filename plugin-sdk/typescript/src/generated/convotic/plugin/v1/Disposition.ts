// Original file: ../../proto/convotic/plugin/v1/work.proto

export const Disposition = {
  /**
   * Same as DISPOSITION_ACK.
   */
  DISPOSITION_UNSPECIFIED: 'DISPOSITION_UNSPECIFIED',
  /**
   * Done: remove the message.
   */
  DISPOSITION_ACK: 'DISPOSITION_ACK',
  /**
   * Deliver again later (counts as an attempt).
   */
  DISPOSITION_RETRY: 'DISPOSITION_RETRY',
  /**
   * Do not retry: move the message to dead letters with `reason`.
   */
  DISPOSITION_DISCARD: 'DISPOSITION_DISCARD',
} as const;

export type Disposition =
  /**
   * Same as DISPOSITION_ACK.
   */
  | 'DISPOSITION_UNSPECIFIED'
  | 0
  /**
   * Done: remove the message.
   */
  | 'DISPOSITION_ACK'
  | 1
  /**
   * Deliver again later (counts as an attempt).
   */
  | 'DISPOSITION_RETRY'
  | 2
  /**
   * Do not retry: move the message to dead letters with `reason`.
   */
  | 'DISPOSITION_DISCARD'
  | 3

export type Disposition__Output = typeof Disposition[keyof typeof Disposition]
