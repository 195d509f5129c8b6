export { DriftwatchClient } from './client.js';
export { Prediction, errorType, type PredictionInput } from './prediction.js';
export type { ClientOptions, ClientStats, Drop, DropReason, KafkaOptions, PredictionEvent, Rejection, Stream, StreamStats } from './types.js';
