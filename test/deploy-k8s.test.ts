// The Kubernetes manifests (deploy/k8s, docs/kubernetes.md) as `kubectl apply -k` would send them:
// each overlay rendered by kubectl's own kustomize, every object checked against the Kubernetes
// schemas, then what no schema sees: that the objects point at each other correctly (Services at
// pods and ports, PDBs and HPAs at workloads, the gateway's URLs at real DNS names, the
// InferencePool at its pods and its endpoint picker), and that every container's arguments are
// accepted by the real `serve` parser. No cluster is needed; kubectl only renders.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

import { parseServeConfig, type ServeConfig } from '../src/cli/serve.js';
import type { SchedulerStats } from '../src/engine/scheduler.js';
import { createMetrics } from '../src/server/metrics.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const k8s = path.join(root, 'deploy', 'k8s');
const IMAGE = 'predict-otron-9000:0.1.0';
// what the image's Dockerfile sets (ENV) and the pods do not repeat necessarily
const IMAGE_ENV = { PREDICT_OTRON_HOST: '0.0.0.0', PREDICT_OTRON_PORT: '8080' };
// the metric names the EPP must read: our replicas' gauges (src/server/metrics.ts)
const OUR_METRICS = { queued: 'predict_otron_queue_depth', running: 'predict_otron_active_sequences', kvUsage: 'predict_otron_kv_cache_usage_ratio' };

// Rendered objects are free-form JSON; the checks below read what they need and fail loudly when
// it is missing, so a loose type is enough here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

// --- rendering -----------------------------------------------------------------------------------

const rendered = new Map<string, Obj[]>();
/** `kubectl kustomize deploy/k8s/overlays/NAME`: the objects, in order. */
function render(overlay: string): Obj[] {
  let objs = rendered.get(overlay);
  if (!objs) {
    const text = execFileSync('kubectl', ['kustomize', path.join(k8s, 'overlays', overlay)], { encoding: 'utf8' });
    const docs = parseAllDocuments(text);
    for (const d of docs) if (d.errors.length) throw d.errors[0];
    objs = docs.map((d) => d.toJS() as Obj).filter((o) => o !== null);
    rendered.set(overlay, objs);
  }
  // a copy each time: tests that break an object on purpose must not break it for the others
  return structuredClone(objs);
}

const overlays = fs.readdirSync(path.join(k8s, 'overlays')).filter((d) => fs.existsSync(path.join(k8s, 'overlays', d, 'kustomization.yaml'))).sort();

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet']);
const workloads = (objs: Obj[]) => objs.filter((o) => WORKLOAD_KINDS.has(o.kind));
const ofKind = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);
function one(objs: Obj[], kind: string, name: string): Obj {
  const found = objs.filter((o) => o.kind === kind && o.metadata?.name === name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0];
}
/** Our model-server / gateway workloads (the EPP is someone else's image). */
const ours = (objs: Obj[]) => workloads(objs).filter((w) => w.metadata.labels?.['app.kubernetes.io/name'] === 'predict-otron');
const server = (w: Obj): Obj => {
  const c = w.spec.template.spec.containers.filter((x: Obj) => x.name === 'server');
  expect(c, `${w.metadata.name}: one container named server`).toHaveLength(1);
  return c[0];
};

// --- schema validation ---------------------------------------------------------------------------

type Model = new (data: Obj) => { validate(): void };
/** apiVersion/kind → kubernetes-models class: the Kubernetes OpenAPI schemas (and Gateway API's). */
const schemas: Record<string, Model> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/Secret': Secret,
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute,
};
/** Kinds no package here has a schema for, checked by hand against their published API. */
const handChecked: Record<string, (o: Obj) => string[]> = {
  'inference.networking.k8s.io/v1/InferencePool': inferencePoolErrors,
};

/** Throws unless the object is valid for its kind; a kind with no schema here is an error. */
function validateObject(o: Obj): void {
  const key = `${o?.apiVersion}/${o?.kind}`;
  const name = o?.metadata?.name;
  if (typeof name !== 'string' || !name) throw new Error(`${key}: no metadata.name`);
  const model = schemas[key];
  if (model) {
    new model(o).validate();
    return;
  }
  const check = handChecked[key];
  if (!check) throw new Error(`${key} ${name}: no schema to validate it against (add it to the table in this test)`);
  const errors = check(o);
  if (errors.length) throw new Error(`${key} ${name}: ${errors.join('; ')}`);
}

// InferencePool, inference.networking.k8s.io/v1, as api/v1/inferencepool_types.go and
// api/v1/shared_types.go of kubernetes-sigs/gateway-api-inference-extension (v1.5.0) define it
// (kubebuilder markers: required fields, enums, patterns, bounds). Unknown fields are refused: the
// CRD's structural schema prunes them, so a misspelt field would silently vanish.
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KIND = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
function inferencePoolErrors(o: Obj): string[] {
  const errors: string[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const only = (v: Record<string, unknown>, where: string, allowed: string[]) => {
    for (const k of Object.keys(v)) if (!allowed.includes(k)) errors.push(`${where}.${k}: unknown field`);
  };
  const port = (p: unknown, where: string) => {
    if (!isObject(p)) return void errors.push(`${where}: must be an object`);
    only(p, where, ['number']);
    if (!Number.isInteger(p.number) || (p.number as number) < 1 || (p.number as number) > 65535) errors.push(`${where}.number: must be an integer 1..65535`);
  };
  only(o, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const spec = o.spec;
  if (!isObject(spec)) return [...errors, 'spec: required'];
  only(spec, 'spec', ['selector', 'targetPorts', 'appProtocol', 'endpointPickerRef']);
  // selector: matchLabels only (no matchExpressions in this API), 1..64 labels
  const sel = spec.selector;
  if (!isObject(sel)) errors.push('spec.selector: required');
  else {
    only(sel, 'spec.selector', ['matchLabels']);
    const ml = sel.matchLabels;
    if (!isObject(ml) || Object.keys(ml).length < 1 || Object.keys(ml).length > 64) errors.push('spec.selector.matchLabels: 1 to 64 labels required');
    else {
      for (const [k, v] of Object.entries(ml)) {
        if (k.length > 253 || !LABEL_KEY.test(k)) errors.push(`spec.selector.matchLabels: bad key '${k}'`);
        if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) errors.push(`spec.selector.matchLabels.${k}: bad value`);
      }
    }
  }
  // targetPorts: 1..8 ports, unique numbers
  const tp = spec.targetPorts;
  if (!Array.isArray(tp) || tp.length < 1 || tp.length > 8) errors.push('spec.targetPorts: 1 to 8 ports required');
  else {
    tp.forEach((p, i) => port(p, `spec.targetPorts[${i}]`));
    const numbers = tp.map((p: Obj) => p?.number);
    if (new Set(numbers).size !== numbers.length) errors.push('spec.targetPorts: port number must be unique');
  }
  if (spec.appProtocol !== undefined && !['http', 'kubernetes.io/h2c'].includes(spec.appProtocol as string)) errors.push('spec.appProtocol: http or kubernetes.io/h2c');
  // endpointPickerRef: name required; port required when the kind is Service (the default)
  const epp = spec.endpointPickerRef;
  if (!isObject(epp)) errors.push('spec.endpointPickerRef: required');
  else {
    only(epp, 'spec.endpointPickerRef', ['group', 'kind', 'name', 'port', 'failureMode']);
    if (typeof epp.name !== 'string' || epp.name.length < 1 || epp.name.length > 253) errors.push('spec.endpointPickerRef.name: required, 1..253 characters');
    if (epp.group !== undefined && (typeof epp.group !== 'string' || !GROUP.test(epp.group))) errors.push('spec.endpointPickerRef.group: not a group');
    if (epp.kind !== undefined && (typeof epp.kind !== 'string' || !KIND.test(epp.kind))) errors.push('spec.endpointPickerRef.kind: not a kind');
    const kind = (epp.kind as string | undefined) ?? 'Service';
    if (epp.port === undefined) {
      if (kind === 'Service') errors.push('spec.endpointPickerRef.port: required when kind is Service');
    } else port(epp.port, 'spec.endpointPickerRef.port');
    if (epp.failureMode !== undefined && !['FailOpen', 'FailClose'].includes(epp.failureMode as string)) errors.push('spec.endpointPickerRef.failureMode: FailOpen or FailClose');
  }
  return errors;
}

describe('deploy/k8s: every overlay renders and every object is valid', () => {
  it('has the four topologies', () => {
    // the docs and the other tests name these; a renamed or lost overlay must not go unnoticed
    expect(overlays).toEqual(['gpu', 'inference-extension', 'split', 'standalone']);
  });

  it.each(overlays)('%s: every object validates against its schema', (overlay) => {
    const objs = render(overlay);
    expect(objs.length).toBeGreaterThan(5);
    for (const o of objs) {
      expect(() => validateObject(o), `${o.kind}/${o.metadata?.name}`).not.toThrow();
    }
    // kubectl apply refuses two objects of one kind and name
    const keys = objs.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('the validation catches real mistakes, and a kind it has no schema for', () => {
    const deployment = one(render('standalone'), 'Deployment', 'predict-otron');
    expect(() => validateObject(deployment)).not.toThrow();
    // quoted numbers: YAML that looks right and that the API server refuses
    const replicas = structuredClone(deployment);
    replicas.spec.replicas = '2';
    expect(() => validateObject(replicas)).toThrow(/replicas must be integer/);
    const port = structuredClone(deployment);
    port.spec.template.spec.containers[0].ports[0].containerPort = '8080';
    expect(() => validateObject(port)).toThrow(/containerPort must be integer/);
    const unnamed = structuredClone(deployment);
    delete unnamed.spec.template.spec.containers[0].name;
    expect(() => validateObject(unnamed)).toThrow(/required property 'name'|required property name/);
    const route = one(render('inference-extension'), 'HTTPRoute', 'predict-otron');
    route.spec.rules[0].backendRefs[0].port = '8080';
    expect(() => validateObject(route)).toThrow(/port must be integer/);
    // an object no table knows is a failure, never a silent pass
    expect(() => validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toThrow(/no schema/);
    expect(() => validateObject({ apiVersion: 'apps/v1beta1', kind: 'Deployment', metadata: { name: 'old' } })).toThrow(/no schema/);
  });

  it('the InferencePool check refuses what the v1 API refuses', () => {
    const pool = one(render('inference-extension'), 'InferencePool', 'predict-otron-inference');
    expect(inferencePoolErrors(pool)).toEqual([]);
    const broken = (edit: (p: Obj) => void) => {
      const p = structuredClone(pool);
      edit(p);
      return inferencePoolErrors(p).join('; ');
    };
    expect(broken((p) => { p.spec.targetPorts = [{ number: '8080' }]; })).toMatch(/targetPorts\[0\]\.number/);
    expect(broken((p) => { p.spec.targetPorts = []; })).toMatch(/1 to 8 ports/);
    expect(broken((p) => { p.spec.targetPorts = [{ number: 8080 }, { number: 8080 }]; })).toMatch(/unique/);
    expect(broken((p) => { p.spec.targetPortNumber = 8080; })).toMatch(/targetPortNumber: unknown field/); // the v1alpha2 field
    expect(broken((p) => { p.spec.selector = { matchExpressions: [] }; })).toMatch(/matchExpressions: unknown field/);
    expect(broken((p) => { delete p.spec.endpointPickerRef.port; })).toMatch(/port: required when kind is Service/);
    expect(broken((p) => { p.spec.endpointPickerRef.failureMode = 'Open'; })).toMatch(/FailOpen or FailClose/);
    expect(broken((p) => { p.spec.extensionRef = { name: 'x' }; })).toMatch(/extensionRef: unknown field/); // the v1alpha2 field
  });
});

// --- cross-references ----------------------------------------------------------------------------

/** Does a pod with these labels match the selector (matchLabels only: all we use)? */
function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false; // an empty selector is a mistake here, not "all"
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
const podLabels = (w: Obj): Record<string, string> => w.spec.template.metadata.labels;
const selectorOf = (o: Obj): Record<string, string> => {
  const sel = o.spec.selector;
  // a label selector with matchExpressions would need more than matches(); we use none
  expect(sel.matchExpressions, `${o.kind}/${o.metadata.name}: matchExpressions`).toBeUndefined();
  return sel.matchLabels;
};
/** The container port a Service targetPort / probe port names (by name or number), or undefined. */
function containerPort(c: Obj, ref: string | number): number | undefined {
  const p = (c.ports ?? []).find((x: Obj) => (typeof ref === 'number' ? x.containerPort === ref : x.name === ref));
  return p?.containerPort;
}
function cpuQuantity(q: string | number): number {
  const s = String(q);
  return s.endsWith('m') ? Number(s.slice(0, -1)) / 1000 : Number(s);
}

/**
 * The environment `serve` sees in a container: its plain `env` values, the image's, and the
 * values Kubernetes computes from resourceFieldRef (limits.cpu, rounded up as the kubelet does).
 * Anything else (secretKeyRef, fieldRef, envFrom) is refused: none is used, and the parse below
 * would not see it.
 */
function containerEnv(c: Obj): NodeJS.ProcessEnv {
  expect(c.envFrom, `${c.name}: envFrom`).toBeUndefined();
  const env: NodeJS.ProcessEnv = { ...IMAGE_ENV };
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.resourceFieldRef) {
      const ref = e.valueFrom.resourceFieldRef;
      expect(ref.resource, `${e.name}`).toBe('limits.cpu');
      expect(ref.containerName ?? c.name).toBe(c.name);
      const limit = c.resources?.limits?.cpu;
      expect(limit, `${e.name}: the container has a CPU limit to read`).toBeDefined();
      env[e.name] = String(Math.ceil(cpuQuantity(limit) / cpuQuantity(ref.divisor ?? '1')));
    } else throw new Error(`${c.name}: env ${e.name} comes from ${JSON.stringify(e.valueFrom)}, which this test does not resolve`);
  }
  return env;
}
/** The real CLI parser on a container's arguments (after `serve`) and environment. */
function serveConfig(w: Obj): ServeConfig {
  const c = server(w);
  expect(c.command, `${w.metadata.name}: the image's ENTRYPOINT runs the CLI`).toBeUndefined();
  expect(c.args[0]).toBe('serve');
  return parseServeConfig(c.args.slice(1), containerEnv(c));
}

describe.each(overlays)('deploy/k8s/overlays/%s: the objects fit together', (overlay) => {
  const objs = () => render(overlay);

  it('every Service selects pods of a workload and targets a port their container has', () => {
    const all = objs();
    const services = ofKind(all, 'Service');
    expect(services.length).toBeGreaterThan(0);
    for (const svc of services) {
      const selected = workloads(all).filter((w) => matches(svc.spec.selector, podLabels(w)));
      expect(selected.length, `Service ${svc.metadata.name} selects no workload`).toBeGreaterThan(0);
      for (const p of svc.spec.ports) {
        for (const w of selected) {
          const target = p.targetPort ?? p.port;
          const found = w.spec.template.spec.containers.some((c: Obj) => containerPort(c, target) !== undefined);
          expect(found, `Service ${svc.metadata.name} port ${p.name}: ${w.metadata.name} has no container port ${target}`).toBe(true);
        }
      }
    }
  });

  it('every PDB and HPA points at a workload that exists', () => {
    const all = objs();
    for (const pdb of ofKind(all, 'PodDisruptionBudget')) {
      const selected = workloads(all).filter((w) => matches(selectorOf(pdb), podLabels(w)));
      expect(selected.map((w) => w.metadata.name), `PDB ${pdb.metadata.name}`).toHaveLength(1);
    }
    const hpas = ofKind(all, 'HorizontalPodAutoscaler');
    expect(hpas.length).toBeGreaterThan(0);
    for (const hpa of hpas) {
      const ref = hpa.spec.scaleTargetRef;
      const target = one(all, ref.kind, ref.name);
      expect(target.apiVersion).toBe(ref.apiVersion);
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(1);
      expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
      // a workload the HPA owns starts within its range (else the first HPA pass rescales it)
      expect(target.spec.replicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
      expect(target.spec.replicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
      // every metric is one an HPA can read: CPU, or our queue gauge through the custom metrics API
      for (const m of hpa.spec.metrics) {
        if (m.type === 'Resource') expect(m.resource.name).toBe('cpu');
        else {
          expect(m.type).toBe('Pods');
          expect(m.pods.metric.name).toBe(OUR_METRICS.queued);
        }
      }
    }
    // every workload's selector picks its own pods (the API server refuses it otherwise)
    for (const w of workloads(all)) expect(matches(selectorOf(w), podLabels(w)), w.metadata.name).toBe(true);
    // and no two workloads' pods carry each other's selector: a Service or PDB meant for one would take both
    for (const a of workloads(all)) for (const b of workloads(all)) {
      if (a !== b) expect(matches(selectorOf(a), podLabels(b)), `${a.metadata.name} selects ${b.metadata.name}'s pods`).toBe(false);
    }
  });

  it('every Secret, ConfigMap, PVC and ServiceAccount a pod uses is in the rendering', () => {
    const all = objs();
    const has = (kind: string, name: string) => all.some((o) => o.kind === kind && o.metadata.name === name);
    for (const w of workloads(all)) {
      const pod = w.spec.template.spec;
      const where = w.metadata.name;
      if (pod.serviceAccountName) expect(has('ServiceAccount', pod.serviceAccountName), `${where}: ServiceAccount ${pod.serviceAccountName}`).toBe(true);
      for (const v of pod.volumes ?? []) {
        if (v.persistentVolumeClaim) expect(has('PersistentVolumeClaim', v.persistentVolumeClaim.claimName), `${where}: PVC`).toBe(true);
        if (v.secret) {
          // optional: the pod starts without it; it must still be here, as the placeholder users replace
          expect(has('Secret', v.secret.secretName), `${where}: Secret ${v.secret.secretName}`).toBe(true);
          const secret = one(all, 'Secret', v.secret.secretName);
          for (const item of v.secret.items ?? []) expect(Object.keys(secret.data ?? {}), `${where}: Secret key`).toContain(item.key);
        }
        if (v.configMap) expect(has('ConfigMap', v.configMap.name), `${where}: ConfigMap ${v.configMap.name}`).toBe(true);
      }
      for (const c of pod.containers) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (ref) expect(has('Secret', ref.name), `${where}: env ${e.name}`).toBe(true);
        }
        // every mount is of a volume the pod has
        for (const m of c.volumeMounts ?? []) expect(pod.volumes.map((v: Obj) => v.name), `${where}: mount ${m.mountPath}`).toContain(m.name);
      }
    }
    for (const rb of ofKind(all, 'RoleBinding')) {
      expect(has(rb.roleRef.kind, rb.roleRef.name), `RoleBinding ${rb.metadata.name}`).toBe(true);
      for (const s of rb.subjects) expect(has(s.kind, s.name), `RoleBinding ${rb.metadata.name} subject`).toBe(true);
    }
  });

  it('the HF token placeholder is empty: no real token is ever committed', () => {
    const secret = one(objs(), 'Secret', 'predict-otron-hf-token');
    expect(secret.data).toEqual({ hf_token: '' });
    expect(secret.stringData).toBeUndefined();
  });

  it('our pods: probes, shutdown, security, resources, metrics annotations', () => {
    const mine = ours(objs());
    expect(mine.length).toBeGreaterThan(0);
    for (const w of mine) {
      const name = w.metadata.name;
      const pod = w.spec.template.spec;
      const c = server(w);
      expect(pod.containers).toHaveLength(1);
      expect(c.image).toBe(IMAGE);
      const port = containerPort(c, 'http');
      expect(port, `${name}: container port http`).toBe(8080);
      // the port the server listens on is the one everything else uses
      const env = containerEnv(c);
      expect(env.PREDICT_OTRON_HOST).toBe('0.0.0.0');
      expect(env.PREDICT_OTRON_PORT).toBe(String(port));

      // readiness on /ready, liveness and startup on /health, all on the container's port
      const probe = (p: Obj, path: string) => {
        expect(p?.httpGet?.path, `${name}: probe path`).toBe(path);
        expect(containerPort(c, p.httpGet.port), `${name}: probe port ${p.httpGet.port}`).toBe(port);
      };
      probe(c.readinessProbe, '/ready');
      probe(c.livenessProbe, '/health');
      probe(c.startupProbe, '/health');
      // a first start downloads the model: the startup probe allows 30 minutes before liveness applies
      expect(c.startupProbe.failureThreshold * c.startupProbe.periodSeconds).toBeGreaterThanOrEqual(30 * 60);

      // shutdown: the preStop sleep and the server's drain deadline fit in the grace period
      const shutdownSeconds = Number(env.PREDICT_OTRON_SHUTDOWN_TIMEOUT ?? 30);
      const preStop = c.lifecycle?.preStop?.sleep?.seconds;
      expect(preStop, `${name}: preStop sleep`).toBeGreaterThanOrEqual(1);
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(30);
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + shutdownSeconds);

      // non-root, no privilege escalation, read-only root: writable only where volumes are
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      const mount = (p: string) => (c.volumeMounts ?? []).find((m: Obj) => m.mountPath === p);
      const volume = (n: string) => pod.volumes.find((v: Obj) => v.name === n);
      expect(volume(mount('/tmp')?.name)?.emptyDir, `${name}: /tmp is an emptyDir`).toBeDefined();

      // requests and limits of CPU and memory
      for (const k of ['requests', 'limits']) for (const r of ['cpu', 'memory']) expect(c.resources?.[k]?.[r], `${name}: ${k}.${r}`).toBeDefined();

      // Prometheus finds /metrics on the container's port
      expect(w.spec.template.metadata.annotations).toMatchObject({
        'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics',
      });

      const config = serveConfig(w);
      if (config.role === 'server') {
        // the model cache: HF_HOME is a writable mount of the shared PVC
        expect(env.HF_HOME).toBe('/data/huggingface');
        const cache = mount(env.HF_HOME!);
        expect(cache?.readOnly, `${name}: the cache is writable`).not.toBe(true);
        expect(volume(cache?.name)?.persistentVolumeClaim?.claimName).toBe('predict-otron-model-cache');
        // the token file lies in the mounted Secret
        const tokenMount = (c.volumeMounts as Obj[]).find((m) => env.HF_TOKEN_PATH!.startsWith(m.mountPath + '/'));
        const tokenVolume = volume(tokenMount?.name);
        expect(tokenVolume?.secret?.secretName).toBe('predict-otron-hf-token');
        expect(tokenVolume.secret.optional).toBe(true);
        expect(tokenVolume.secret.items).toContainEqual({ key: 'hf_token', path: path.posix.relative(tokenMount.mountPath, env.HF_TOKEN_PATH!) });
        // ggml's threads follow the CPU limit
        expect(config.load.threads).toBe(Math.ceil(cpuQuantity(c.resources.limits.cpu)));
      } else {
        // a gateway loads nothing: no cache, no token
        expect(pod.volumes.some((v: Obj) => v.persistentVolumeClaim || v.secret), `${name}: volumes`).toBe(false);
      }
      expect(config.host).toBe('0.0.0.0');
      expect(config.port).toBe(port);
      expect(config.shutdownSeconds).toBe(shutdownSeconds);
    }
  });

  it('no GPU unless the gpu component asks for it, and then on the inference replicas only', () => {
    const all = objs();
    for (const w of workloads(all)) {
      const pod = w.spec.template.spec;
      const gpu = pod.containers.map((c: Obj) => c.resources?.limits?.['nvidia.com/gpu']);
      const inference = w.metadata.labels?.['app.kubernetes.io/component'] === 'inference';
      if (overlay === 'gpu' && inference) {
        expect(gpu, w.metadata.name).toEqual([1]);
        expect(pod.containers[0].resources.requests['nvidia.com/gpu']).toBe(1);
        expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
        expect(pod.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
      } else {
        expect(gpu.every((g: unknown) => g === undefined), `${w.metadata.name}: no GPU`).toBe(true);
        expect(pod.nodeSelector).toBeUndefined();
        expect(pod.tolerations).toBeUndefined();
      }
    }
  });
});

// --- the topologies --------------------------------------------------------------------------------

describe('standalone', () => {
  it('one Deployment serves the chat model and the embedding model behind predict-otron:80', () => {
    const all = render('standalone');
    expect(ours(all).map((w) => `${w.kind}/${w.metadata.name}`)).toEqual(['Deployment/predict-otron']);
    const config = serveConfig(one(all, 'Deployment', 'predict-otron'));
    expect(config).toMatchObject({ role: 'server', model: { ref: 'google/gemma-3-270m-it' }, embeddingModels: [{ ref: 'bge-small-en-v1.5' }] });
    const svc = one(all, 'Service', 'predict-otron');
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    expect(one(all, 'HorizontalPodAutoscaler', 'predict-otron').spec.metrics.map((m: Obj) => m.type)).toEqual(['Resource']);
  });
});

/**
 * Where a gateway URL leads: the workload whose pods answer at that host and port, or an error.
 * `svc` is a Service of the rendering (its port mapped to the pods' container port);
 * `pod-N.svc` a StatefulSet pod through its headless governing Service (the container port
 * itself), N below the most replicas the StatefulSet can have.
 */
function resolveUrl(all: Obj[], url: string): { workload: Obj; ordinal?: number } {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const labels = u.hostname.split('.');
  expect(labels.length, `${url}: a name in the namespace (svc or pod.svc)`).toBeLessThanOrEqual(2);
  const svc = one(all, 'Service', labels.at(-1)!);
  const selected = workloads(all).filter((w) => matches(svc.spec.selector, podLabels(w)));
  expect(selected, `${url}: Service ${svc.metadata.name} selects one workload`).toHaveLength(1);
  const workload = selected[0];
  if (labels.length === 1) {
    const sp = svc.spec.ports.find((p: Obj) => p.port === port);
    expect(sp, `${url}: Service ${svc.metadata.name} has port ${port}`).toBeDefined();
    expect(containerPort(server(workload), sp.targetPort ?? sp.port)).toBeDefined();
    return { workload };
  }
  // a pod's own name: only a headless Service governing a StatefulSet gives one
  expect(svc.spec.clusterIP, `${url}: ${svc.metadata.name} is headless`).toBe('None');
  expect(workload.kind).toBe('StatefulSet');
  expect(workload.spec.serviceName).toBe(svc.metadata.name);
  const m = new RegExp(`^${workload.metadata.name}-(\\d+)$`).exec(labels[0]!);
  expect(m, `${url}: ${labels[0]} is a pod of ${workload.metadata.name}`).not.toBeNull();
  const ordinal = Number(m![1]);
  const hpa = ofKind(all, 'HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.kind === 'StatefulSet' && h.spec.scaleTargetRef.name === workload.metadata.name);
  expect(ordinal).toBeLessThan(hpa?.spec.maxReplicas ?? workload.spec.replicas);
  // no Service in between: the URL's port is the container's
  expect(server(workload).ports.map((p: Obj) => p.containerPort)).toContain(port);
  return { workload, ordinal };
}

describe.each(['split', 'gpu'])('%s', (overlay) => {
  it('the gateway fronts predict-otron:80 and its URLs reach the right replicas', () => {
    const all = render(overlay);
    expect(ours(all).map((w) => `${w.kind}/${w.metadata.name}`).sort()).toEqual([
      'Deployment/predict-otron-embeddings', 'Deployment/predict-otron-gateway', 'StatefulSet/predict-otron-inference',
    ]);
    const gateway = one(all, 'Deployment', 'predict-otron-gateway');
    const config = serveConfig(gateway);
    if (config.role !== 'gateway') throw new Error(`the gateway parses as ${config.role}`);
    // the entry point is the gateway, on the same name and port as the standalone server
    const entry = one(all, 'Service', 'predict-otron');
    expect(matches(entry.spec.selector, podLabels(gateway))).toBe(true);
    expect(entry.spec.ports[0]).toMatchObject({ port: 80, targetPort: 'http' });

    // every inference URL is a StatefulSet pod serving the chat model; ordinals 0..maxReplicas-1,
    // so whatever the HPA scales to is reachable (replicas not running stay ejected)
    const sts = one(all, 'StatefulSet', 'predict-otron-inference');
    const hpa = one(all, 'HorizontalPodAutoscaler', 'predict-otron-inference');
    const ordinals = config.inference.map((url) => {
      const { workload, ordinal } = resolveUrl(all, url);
      expect(workload).toEqual(sts);
      return ordinal;
    });
    expect(ordinals).toEqual([...Array(hpa.spec.maxReplicas).keys()]);
    const inference = serveConfig(sts);
    expect(inference).toMatchObject({ role: 'server', model: { ref: 'google/gemma-3-270m-it' }, embeddingModels: [] });
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    // names resolve while a replica loads: the gateway's own /ready probes decide
    expect(one(all, 'Service', 'predict-otron-inference').spec.publishNotReadyAddresses).toBe(true);

    // the embeddings URL is the embeddings Service, whose pods serve the embedding model only
    expect(config.embeddings).toEqual(['http://predict-otron-embeddings:8080']);
    const { workload: emb } = resolveUrl(all, config.embeddings[0]!);
    expect(emb.metadata.name).toBe('predict-otron-embeddings');
    const embConfig = serveConfig(emb);
    expect(embConfig).toMatchObject({ role: 'server', embeddingModels: [{ ref: 'bge-small-en-v1.5' }] });
    expect(embConfig.role === 'server' && embConfig.model).toBeUndefined();

    // the inference HPA scales on queue depth (custom metric) and CPU
    expect(hpa.spec.metrics.map((m: Obj) => m.type).sort()).toEqual(['Pods', 'Resource']);
  });
});

describe('gpu', () => {
  it('is the split topology with only the inference StatefulSet changed', () => {
    const split = render('split');
    const gpu = render('gpu');
    const key = (o: Obj) => `${o.kind}/${o.metadata.name}`;
    expect(gpu.map(key).sort()).toEqual(split.map(key).sort());
    for (const o of gpu) {
      if (key(o) === 'StatefulSet/predict-otron-inference') continue;
      expect(o, key(o)).toEqual(split.find((s) => key(s) === key(o)));
    }
  });
});

describe('inference-extension', () => {
  const all = () => render('inference-extension');

  it('the HTTPRoute sends chat to the InferencePool and embeddings to their Service', () => {
    const objs = all();
    const route = one(objs, 'HTTPRoute', 'predict-otron');
    const refs = route.spec.rules.flatMap((r: Obj) => r.backendRefs);
    const poolRefs = refs.filter((b: Obj) => b.kind === 'InferencePool');
    expect(poolRefs).toEqual([{ group: 'inference.networking.k8s.io', kind: 'InferencePool', name: 'predict-otron-inference' }]);
    one(objs, 'InferencePool', poolRefs[0].name);
    // the other backends are Services of the rendering, on one of their ports
    for (const b of refs.filter((x: Obj) => x.kind !== 'InferencePool')) {
      expect(b.kind).toBe('Service');
      expect(one(objs, 'Service', b.name).spec.ports.map((p: Obj) => p.port)).toContain(b.port);
    }
    const embRule = route.spec.rules.find((r: Obj) => r.matches.some((m: Obj) => m.path.value === '/v1/embeddings'));
    expect(embRule.backendRefs[0].name).toBe('predict-otron-embeddings');
  });

  it('the InferencePool selects the inference pods (only) on their port, and its EPP Service exists', () => {
    const objs = all();
    const pool = one(objs, 'InferencePool', 'predict-otron-inference');
    const members = workloads(objs).filter((w) => matches(pool.spec.selector.matchLabels, podLabels(w)));
    expect(members.map((w) => `${w.kind}/${w.metadata.name}`)).toEqual(['Deployment/predict-otron-inference']);
    const c = server(members[0]);
    for (const p of pool.spec.targetPorts) expect(containerPort(c, p.number), `targetPort ${p.number}`).toBeDefined();
    expect(serveConfig(members[0])).toMatchObject({ role: 'server', model: { ref: 'google/gemma-3-270m-it' }, embeddingModels: [] });
    // endpointPickerRef: a Service (the default kind) whose port leads to the EPP's gRPC port
    const ref = pool.spec.endpointPickerRef;
    expect(ref.kind ?? 'Service').toBe('Service');
    const svc = one(objs, 'Service', ref.name);
    const sp = svc.spec.ports.find((p: Obj) => p.port === ref.port.number);
    const epp = one(objs, 'Deployment', 'predict-otron-epp');
    expect(matches(svc.spec.selector, podLabels(epp))).toBe(true);
    expect(containerPort(epp.spec.template.spec.containers[0], sp.targetPort)).toBe(9002);
    // the HPA scales the pool's Deployment
    expect(one(objs, 'HorizontalPodAutoscaler', 'predict-otron-inference').spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'predict-otron-inference' });
  });

  it('the EPP reads our metric names from its config, not the refused flags', () => {
    const objs = all();
    const epp = one(objs, 'Deployment', 'predict-otron-epp');
    const pod = epp.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe('registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0');
    const args: string[] = c.args;
    const flag = (name: string) => {
      const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
      return i < 0 ? undefined : args[i]!.includes('=') ? args[i]!.slice(args[i]!.indexOf('=') + 1) : args[i + 1];
    };
    expect(flag('pool-name')).toBe(one(objs, 'InferencePool', 'predict-otron-inference').metadata.name);
    // EPP v1.4.0+ exits at start when one of these is set ("flag ... is deprecated and cannot be
    // used; configure metrics via engineConfigs in EndpointPickerConfig instead")
    for (const refused of ['total-queued-requests-metric', 'total-running-requests-metric', 'kv-cache-usage-percentage-metric', 'lora-info-metric', 'cache-info-metric']) {
      expect(flag(refused), `--${refused}`).toBeUndefined();
    }
    // the pool's namespace comes from NAMESPACE (the pod's own) when --pool-namespace is unset
    expect(flag('pool-namespace')).toBeUndefined();
    expect(c.env).toContainEqual({ name: 'NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });

    // --config-file is a key of the ConfigMap mounted at its directory
    const file = flag('config-file')!;
    const mount = c.volumeMounts.find((m: Obj) => path.posix.dirname(file) === m.mountPath);
    const volume = pod.volumes.find((v: Obj) => v.name === mount?.name);
    const cm = one(objs, 'ConfigMap', volume?.configMap?.name);
    const text = cm.data[path.posix.basename(file)];
    expect(text, `${file} in ConfigMap ${cm.metadata.name}`).toBeTypeOf('string');
    const config = parseYaml(text) as Obj;

    // decoded strictly by the EPP: only EndpointPickerConfig's fields (v1.5.0), so e.g. `data:`
    // for `dataLayer:` would stop it at start
    expect(config.apiVersion).toBe('inference.networking.x-k8s.io/v1alpha1');
    expect(config.kind).toBe('EndpointPickerConfig');
    const fields = ['apiVersion', 'kind', 'featureGates', 'plugins', 'schedulingProfiles', 'saturationDetector', 'dataLayer', 'flowControl', 'parser'];
    for (const k of Object.keys(config)) expect(fields, `EndpointPickerConfig.${k}`).toContain(k);
    // plugin references resolve (a plugin's name defaults to its type)
    const plugins = new Map<string, Obj>(config.plugins.map((p: Obj) => [p.name ?? p.type, p]));
    for (const prof of config.schedulingProfiles) for (const p of prof.plugins) expect(plugins.has(p.pluginRef), p.pluginRef).toBe(true);
    for (const s of config.dataLayer.sources) {
      expect(plugins.get(s.pluginRef)?.type).toBe('metrics-data-source');
      for (const e of s.extractors) expect(plugins.get(e.pluginRef)?.type).toBe('core-metrics-extractor');
    }
    expect(plugins.get('metrics-data-source').parameters).toMatchObject({ scheme: 'http', path: '/metrics' });

    // our three gauges, no LoRA metric (we serve no adapters), no cache-info metric
    const params = plugins.get('core-metrics-extractor').parameters;
    const engine = params.engineConfigs.find((e: Obj) => e.name === params.defaultEngine);
    expect(engine).toEqual({
      name: 'predict-otron',
      queuedRequestsSpec: OUR_METRICS.queued,
      runningRequestsSpec: OUR_METRICS.running,
      kvUsageSpec: OUR_METRICS.kvUsage,
      loraSpec: '',
      cacheInfoSpec: '',
    });
    // and the pool's pods say they are that engine
    const inference = one(objs, 'Deployment', 'predict-otron-inference');
    expect(podLabels(inference)['inference.networking.k8s.io/engine-type']).toBe(engine.name);
  });

  it('the metric names the EPP and the HPA read are gauges our server exports', async () => {
    // the server's own metrics (src/server/metrics.ts) with a scheduler's numbers: the names the
    // manifests use must be there, as gauges, with the meaning the Model Server Protocol gives them
    const registry = new client.Registry();
    const stats = { queued: 3, active: 5, kvUsed: 96, kvSize: 384, generatedTokens: 0, promptTokens: 0, preemptions: 0, recomputedTokens: 0, swappedTokens: 0, windowBytes: 0 } satisfies SchedulerStats;
    createMetrics(() => stats, { registry });
    const text = await registry.metrics();
    for (const name of Object.values(OUR_METRICS)) expect(text).toContain(`# TYPE ${name} gauge`);
    expect(text).toMatch(new RegExp(`^${OUR_METRICS.queued} 3$`, 'm'));
    expect(text).toMatch(new RegExp(`^${OUR_METRICS.running} 5$`, 'm'));
    // a fraction 0..1, as vLLM's kv_cache_usage_perc (despite its name)
    expect(text).toMatch(new RegExp(`^${OUR_METRICS.kvUsage} 0.25$`, 'm'));
  });
});
