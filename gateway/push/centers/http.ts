import { buildPushRequest } from '../request.ts';
import { sendPush } from '../send.ts';
import type { Center } from './types.ts';

/** kind http: today's single POST of istanbul, lcov, cobertura or the covgate envelope, optionally signed. */
export const httpCenter: Center = {
  prepare: buildPushRequest,
  async deliver(ctx) {
    const status = await sendPush(ctx.http, ctx.upstream, ctx.id, ctx.request, ctx.signal, ctx.now);
    return { status };
  },
};
