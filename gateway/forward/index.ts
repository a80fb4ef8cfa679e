export { createForwarder, type Forwarder, type ForwardMark, type ForwardResult } from './forwarder.ts';
export { forwardRoutes } from './routes.ts';
export { createShardFanOut, withShardFanOut, type FanOut } from './fan-out.ts';
export { FORWARD_PATH, FLUSH_PATH, FORWARDED_TARGET_HEADER } from './protocol.ts';
