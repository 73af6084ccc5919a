/**
 * The container (or service) a process runs in, from its cgroup path: what an operator calls it.
 *
 *   /system.slice/docker-<64 hex>.scope, /docker/<64 hex>       → docker/<id>
 *   …/cri-containerd-<id>.scope, /containerd/<id>               → containerd/<id>
 *   …/crio-<id>.scope                                           → crio/<id>
 *   /kubepods/…/pod<uid>/<id>, kubepods-…-pod<uid>.slice/…-<id>  → kubernetes/<pod uid>/<container id>
 *   /system.slice/nginx.service, /user.slice/…/session-3.scope  → the systemd unit (nginx.service)
 *   any other path                                              → the path itself
 *   /                                                           → null (no container)
 */

const HEX_ID = /[0-9a-f]{64}/;

export function containerName(cgroupPath: string): string | null {
  const path = cgroupPath.trim();
  if (path === '' || path === '/') return null;
  const segments = path.split('/').filter(Boolean);
  const pod = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/.exec(path);
  const id = HEX_ID.exec(segments.at(-1) ?? '')?.[0];
  if (pod && id) return `kubernetes/${pod[1].replaceAll('_', '-')}/${id}`;
  for (const segment of [...segments].reverse()) {
    const docker = /^docker-([0-9a-f]{64})\.scope$/.exec(segment);
    if (docker) return `docker/${docker[1]}`;
    const containerd = /^cri-containerd-([0-9a-f]{64})\.scope$/.exec(segment);
    if (containerd) return `containerd/${containerd[1]}`;
    const crio = /^crio-([0-9a-f]{64})\.scope$/.exec(segment);
    if (crio) return `crio/${crio[1]}`;
  }
  const parent = segments.at(-2);
  if (id && (parent === 'docker' || parent === 'containerd')) return `${parent}/${id}`;
  const unit = [...segments].reverse().find((s) => /\.(service|scope)$/.test(s));
  if (unit) return unit;
  return path;
}
