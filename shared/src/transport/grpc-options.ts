import type { ChannelOptions } from "@grpc/grpc-js";

/** Chunks are ~1 MiB; messages above this are refused rather than buffered. */
export const MAX_MESSAGE_BYTES = 8 << 20;

/** Channel options both ends use: explicit message limits and keepalive so that dead peers are noticed. */
export const GRPC_CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.http2.min_ping_interval_without_data_ms": 10_000,
};
