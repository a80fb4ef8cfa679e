/** The upstream protocols, one file per `push.upstreams[].kind`; the outbox only sees `Center`. */
import type { UpstreamKind } from '../../config/types.ts';
import { canyonCenter } from './canyon.ts';
import { codecovCenter } from './codecov.ts';
import { coverallsCenter } from './coveralls.ts';
import { httpCenter } from './http.ts';
import { sonarqubeCenter } from './sonarqube.ts';
import type { Center } from './types.ts';

const CENTERS: Record<UpstreamKind, Center> = {
  http: httpCenter,
  codecov: codecovCenter,
  coveralls: coverallsCenter,
  sonarqube: sonarqubeCenter,
  canyon: canyonCenter,
};

/** The protocol of a kind; undefined for a kind this build cannot push to. */
export function centerOf(kind: UpstreamKind | undefined): Center | undefined {
  return CENTERS[kind ?? 'http'] as Center | undefined;
}

export { sonarReport, sonarReportPath, RELEASE_LABEL } from './sonarqube.ts';
export { encodeSlug } from './codecov.ts';
export { signBody, SIGNATURE_HEADER } from '../send.ts';
export type { Center, DeliverContext, Delivered } from './types.ts';
