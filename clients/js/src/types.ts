/** A prediction event as the SDK takes it: the event contract of driftwatch (core/event.schema.json). */
export interface PredictionEvent {
  /** Unique per model; generated (a random UUID) when absent. */
  event_id?: string;
  model: string;
  /** Epoch milliseconds or RFC 3339; the time of `log()` when absent. */
  timestamp?: number | string;
  features: Record<string, number | string | boolean | null>;
  /** The model's output; a failed prediction (`status: "error"`) may have none. */
  prediction?: number | string;
  scores?: Record<string, number>;
  model_version?: string;
  latency_ms?: number;
  tags?: Record<string, string>;
  /** `ok` (the default) or `error` for a prediction that failed. */
  status?: 'ok' | 'error';
  /** What failed, for `status: "error"`: an exception's name, a code. */
  error_type?: string;
}

export type Stream = 'events' | 'labels';

/** An item the service refused (4xx): never retried, reported once. */
export interface Rejection {
  stream: Stream;
  /** The item as sent. */
  item: unknown;
  /** The service's reason, e.g. "timestamp 1795556400 looks like epoch seconds ...". */
  reason: string;
  /** The HTTP status when the whole request was refused (400, 401, 403, 413); absent for one item of an accepted request. */
  status?: number;
}

export type DropReason = 'queue_full' | 'closed' | 'close_timeout' | 'unserializable';

/** Items the SDK gave up on, so that nothing is lost silently. */
export interface Drop {
  stream: Stream;
  reason: DropReason;
  /** The event_id of each item dropped. */
  ids: string[];
}

export interface KafkaOptions {
  brokers: string[];
  clientId?: string;
  /** driftwatch's KAFKA_EVENTS_TOPIC; default driftwatch.events. */
  eventsTopic?: string;
  /** driftwatch's KAFKA_LABELS_TOPIC; default driftwatch.labels. */
  labelsTopic?: string;
  /** Passed to kafkajs as they are (TLS and SASL). */
  ssl?: unknown;
  sasl?: unknown;
}

export interface ClientOptions {
  /** The driftwatch service, e.g. http://127.0.0.1:8080. Not needed with `kafka`. */
  url?: string;
  /** A key of scope `ingest`, sent as Authorization: Bearer. */
  apiKey?: string;
  /** Produce to driftwatch's Kafka topics instead of HTTP (needs the kafkajs package). */
  kafka?: KafkaOptions;
  /** A batch is sent when it has this many items ... (default 500) */
  maxBatchItems?: number;
  /** ... or when its oldest item has waited this long (default 1000 ms). */
  flushIntervalMs?: number;
  /** ... and it never holds more bytes of JSON than this (default 4 MiB over HTTP, 900 KiB to Kafka). */
  maxBatchBytes?: number;
  /** Items held per stream (events, labels) while driftwatch is slow or away (default 100,000). */
  maxQueueItems?: number;
  /** Which item goes when the queue is full: the oldest queued (default) or the one being logged. */
  overflow?: 'drop_oldest' | 'drop_newest';
  /** Requests in flight at once (default 2). */
  maxConcurrency?: number;
  /** One request's time limit (default 10,000 ms); then it is retried. */
  requestTimeoutMs?: number;
  /** First back-off after a failure (default 200 ms); doubled per failure in a row ... */
  retryInitialMs?: number;
  /** ... up to this (default 10,000 ms). A Retry-After from the service is waited at least. */
  retryMaxMs?: number;
  /** gzip level of request bodies, 1-9 (default 1: most of the gain for a fraction of the CPU). */
  gzipLevel?: number;
  /** Flush what is queued when the process is about to exit with an empty event loop (default true). */
  flushOnExit?: boolean;
  onRejected?: (rejection: Rejection) => void;
  onDropped?: (drop: Drop) => void;
  /** A failed attempt that will be retried, e.g. a 503 or a refused connection. */
  onRetry?: (error: { stream: Stream; reason: string; delayMs: number }) => void;
}

export interface StreamStats {
  /** Waiting to be sent. */
  queued: number;
  /** In requests not yet answered. */
  inFlight: number;
  /** Accepted by the service. */
  sent: number;
  /** Refused by the service (reported to onRejected). */
  rejected: number;
  /** Given up by the SDK, by reason (reported to onDropped). */
  dropped: Record<DropReason, number>;
}

export interface ClientStats {
  events: StreamStats;
  labels: StreamStats;
  /** Attempts that failed and were retried. */
  retries: number;
  /** Failures in a row now; 0 once a request succeeds. */
  failing: number;
  lastError: string | null;
}
