/**
 * Checks shared by the deploy/ tests: every Kubernetes object against the
 * OpenAPI schema of its kind (kubernetes-models, @kubernetes-models/prometheus-operator),
 * and the gateway.yaml of the manifests through covgate's own config loader.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as coreV1 from 'kubernetes-models/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as monitoringV1 from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import YAML from 'yaml';
import { parseConfig, type GatewayConfig } from '../../gateway/config/index.ts';

export const deployDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy');

type Model = new (data: object) => { validate(): void };
const MODELS: Record<string, Record<string, unknown>> = {
  v1: coreV1,
  'apps/v1': appsV1,
  'rbac.authorization.k8s.io/v1': rbacV1,
  'monitoring.coreos.com/v1': monitoringV1,
};

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** Throws naming the object and the schema violation; unknown apiVersion/kind is an error too. */
export function validateObject(obj: K8sObject): void {
  const where = `${obj.apiVersion}/${obj.kind} ${obj.metadata?.name ?? '(no name)'}`;
  const Ctor = MODELS[obj.apiVersion]?.[obj.kind] as Model | undefined;
  if (!Ctor) throw new Error(`${where}: no schema known for this apiVersion and kind`);
  try {
    new Ctor(obj).validate();
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

/** Every document of a multi-document YAML text, empty ones left out. */
export function parseDocuments(text: string): K8sObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null);
}

export function readDeployFile(name: string): string {
  return readFileSync(path.join(deployDir, name), 'utf8');
}

/** Loads a deploy gateway.yaml with covgate's own loader and `env` for `${VAR}`. */
export function loadDeployGatewayConfig(text: string, env: Record<string, string>, filename: string): { config: GatewayConfig } {
  return { config: parseConfig(text, { env, filename }) };
}

/** The StatefulSet's container env given as plain values (downward-API entries left out). */
export function plainEnv(sts: K8sObject): Record<string, string> {
  const spec = sts.spec as { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } };
  const env: Record<string, string> = {};
  for (const e of spec.template.spec.containers[0]!.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}
