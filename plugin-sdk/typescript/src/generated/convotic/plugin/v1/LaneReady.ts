// Original file: ../../proto/convotic/plugin/v1/work.proto


export interface LaneReady {
  'lane'?: (number);
}

export interface LaneReady__Output {
  'lane': (number);
}
