// Original file: ../../proto/convotic/host/v1/host.proto


export interface LogResponse {
}

export interface LogResponse__Output {
}
