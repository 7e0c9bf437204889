/**
 * Image references, parsed once: `[registry[:port]/]path[:tag][@sha256:…]` as Docker reads them, into
 * the normalized form Docker gives them (Docker Hub is `docker.io`, its official images live under
 * `library/`, no tag and no digest means `:latest`). Every part of hangar that takes an image name
 * (the catalog, the Docker runtime, push and pull) goes through `parseImageRef`; invalid input is an
 * `InvalidImageRefError` naming what is wrong.
 */
import { UserError } from './errors.js';

/** Docker Hub, as Docker names it in normalized references. */
export const DOCKER_HUB = 'docker.io';

/** The namespace of Docker Hub's official images: `nginx` is `docker.io/library/nginx`. */
const OFFICIAL_NAMESPACE = 'library';

/** Docker Hub's old name: a reference naming it is normalized to `docker.io`, as Docker does. */
const LEGACY_HUB = 'index.docker.io';

/** Every name Docker Hub goes by (its API host included): one set of credentials serves them all. */
const HUB_NAMES: ReadonlySet<string> = new Set([DOCKER_HUB, LEGACY_HUB, 'registry-1.docker.io']);

/** A parsed, normalized image reference. */
export interface ParsedImageRef {
  /** Registry host, with its port if any: `docker.io` when the reference names none. */
  registry: string;
  /** The path inside the registry, e.g. `library/nginx` or `acme/app`. */
  repository: string;
  /** The tag; `latest` when the reference gives neither a tag nor a digest. */
  tag?: string;
  /** `sha256:<64 hex>` when the reference pins a manifest. */
  digest?: string;
  /** Whether the text named the registry: `docker.io/nginx` does, `nginx` does not. */
  explicitRegistry: boolean;
}

/** The tag grammar Docker uses: up to 128 word characters, dots and dashes, not starting with either. */
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** One lowercase path component; separators (`.`, `_`, `__`, dashes) only between alphanumerics. */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\]$/;
const IMAGE_ID = /^[0-9a-f]{64}$/;
const MAX_NAME_LENGTH = 255;

const EXAMPLES = 'e.g. nginx:1.25, ghcr.io/acme/app:v1, 127.0.0.1:5000/app:v1 or app@sha256:<64 hex digits>';

/** A text that is not an image reference; `reason` says which part is wrong. */
export class InvalidImageRefError extends UserError {
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super({ code: 'invalid_image_ref', kind: 'invalid', message: `${JSON.stringify(input)} is not a valid image reference: ${reason}`, hint: `use [registry/]repository[:tag][@digest], ${EXAMPLES}` });
    this.name = 'InvalidImageRefError';
  }
}

/**
 * Parses and normalizes an image reference (whitespace around it is ignored, as it always was).
 * @throws InvalidImageRefError (`invalid_image_ref`) naming the part that is wrong
 */
export function parseImageRef(input: string): ParsedImageRef {
  const problem = (reason: string) => new InvalidImageRefError(input, reason);
  const text = input.trim();
  if (text === '') throw problem('it is empty');
  if (/\s/.test(text)) throw problem('it contains whitespace');
  const [rest, digest, extra] = text.split('@');
  if (extra !== undefined) throw problem("it has more than one '@'");
  if (digest !== undefined && !DIGEST.test(digest)) throw problem(`its digest ${JSON.stringify(digest)} is not sha256:<64 lowercase hex digits>`);
  const colon = rest!.lastIndexOf(':');
  const hasTag = colon > rest!.lastIndexOf('/');
  const name = hasTag ? rest!.slice(0, colon) : rest!;
  const tag = hasTag ? rest!.slice(colon + 1) : undefined;
  if (tag !== undefined && !TAG.test(tag)) throw problem(tag === '' ? "the tag after ':' is empty" : `its tag ${JSON.stringify(tag)} is not valid (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')`);
  const { registry, repository, explicitRegistry } = splitName(name, problem);
  return { registry, repository, ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}), ...(digest !== undefined ? { digest } : {}), explicitRegistry };
}

/** Like `parseImageRef`, but undefined for text that is not a reference. */
export function tryParseImageRef(input: string): ParsedImageRef | undefined {
  try {
    return parseImageRef(input);
  } catch (err) {
    if (err instanceof InvalidImageRefError) return undefined;
    throw err;
  }
}

/**
 * Splits a name (no tag, no digest) into registry and repository. The first path component is a
 * registry when it looks like a host (has a dot or a port, or is `localhost`), as Docker decides; a
 * bare uppercase first component, which Docker would also take for a host, is refused as a repository
 * that is not lowercase, since that is almost always what it is.
 */
function splitName(name: string, problem: (reason: string) => InvalidImageRefError): Omit<ParsedImageRef, 'tag' | 'digest'> {
  if (name === '') throw problem('the repository name is empty');
  if (IMAGE_ID.test(name)) throw problem('a 64-character hex string is an image id, not a name');
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const explicitRegistry = first !== '' && (first === 'localhost' || /[.:]/.test(first));
  const host = explicitRegistry ? first : DOCKER_HUB;
  if (explicitRegistry && !isRegistryHost(host)) throw problem(`its registry ${JSON.stringify(host)} is not a valid host[:port]`);
  const registry = host.toLowerCase() === LEGACY_HUB ? DOCKER_HUB : host;
  const path = explicitRegistry ? name.slice(slash + 1) : name;
  checkPath(path, problem);
  const repository = registry === DOCKER_HUB && !path.includes('/') ? `${OFFICIAL_NAMESPACE}/${path}` : path;
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) throw problem(`the name is longer than ${MAX_NAME_LENGTH} characters`);
  return { registry, repository, explicitRegistry };
}

function checkPath(path: string, problem: (reason: string) => InvalidImageRefError): void {
  if (path === '') throw problem('the repository name is empty');
  if (path !== path.toLowerCase()) throw problem(`the repository name ${JSON.stringify(path)} must be lowercase`);
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw problem(component === '' ? `the repository name ${JSON.stringify(path)} has an empty path component` : `the path component ${JSON.stringify(component)} may only hold lowercase letters and digits, with '.', '_', '__' or dashes between them`);
    }
  }
}

/** `host`, `host:port`, an IPv4 address or `[ipv6]`, each with an optional port. */
export function isRegistryHost(text: string): boolean {
  const m = /^(.*?)(?::(\d{1,5}))?$/.exec(text);
  if (!m || (m[2] !== undefined && Number(m[2]) > 65535)) return false;
  const host = m[1]!;
  if (IPV6_HOST.test(host)) return true;
  return host !== '' && host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/** Whether `registry` is Docker Hub under any of its names. */
export function isDockerHub(registry: string): boolean {
  return HUB_NAMES.has(registry.toLowerCase());
}

/** `registry/repository[:tag][@digest]`; `familiar` drops `docker.io/` and `library/` as `docker images` shows them. */
export function formatImageReference(ref: Pick<ParsedImageRef, 'registry' | 'repository' | 'tag' | 'digest'>, form: 'normalized' | 'familiar' = 'normalized'): string {
  return `${imageName(ref, form)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The name without tag or digest: `docker.io/library/nginx`, or `nginx` in the familiar form. */
export function imageName(ref: Pick<ParsedImageRef, 'registry' | 'repository'>, form: 'normalized' | 'familiar' = 'normalized'): string {
  return form === 'familiar' && ref.registry === DOCKER_HUB ? familiarRepository(ref) : `${ref.registry}/${ref.repository}`;
}

/** The repository as people write it: Docker Hub's `library/nginx` is `nginx`; any other is unchanged. */
export function familiarRepository(ref: Pick<ParsedImageRef, 'registry' | 'repository'>): string {
  const prefix = `${OFFICIAL_NAMESPACE}/`;
  const rest = ref.repository.slice(prefix.length);
  return ref.registry === DOCKER_HUB && ref.repository.startsWith(prefix) && !rest.includes('/') ? rest : ref.repository;
}

/** A tag as Docker allows it: up to 128 word characters, dots and dashes, not starting with either. */
export function isImageTag(text: string): boolean {
  return TAG.test(text);
}

/** `sha256:` and 64 lowercase hex digits. */
export function isImageDigest(text: string): boolean {
  return DIGEST.test(text);
}

/** Where images are tagged for: a registry host, optionally with a namespace (`ghcr.io/acme`). */
export interface RegistryPrefix {
  registry: string;
  namespace?: string;
}

/**
 * Parses a registry prefix such as `[build] registry` (`ghcr.io/acme`, `127.0.0.1:5000`,
 * `hangar.local`): the first part must be a host (a dot, a port, or `localhost`), so that the prefix
 * cannot be read as a Docker Hub namespace; the rest are path components.
 * @throws UserError `invalid_registry`
 */
export function parseRegistryPrefix(text: string): RegistryPrefix {
  const [host = '', ...path] = text.split('/');
  const hostLike = host === 'localhost' || /[.:]/.test(host);
  const bad = !hostLike || !isRegistryHost(host) || path.some((c) => !PATH_COMPONENT.test(c));
  if (bad) {
    throw new UserError({
      code: 'invalid_registry',
      kind: 'invalid',
      message: `${JSON.stringify(text)} is not a registry: expected a registry host, optionally with a port and a namespace`,
      hint: 'e.g. "ghcr.io/myorg", "registry.example.com:5000" or "127.0.0.1:5000"',
    });
  }
  return { registry: host, ...(path.length > 0 ? { namespace: path.join('/') } : {}) };
}

/** Whether `text` is a registry prefix `parseRegistryPrefix` accepts. */
export function isRegistryPrefix(text: string): boolean {
  try {
    parseRegistryPrefix(text);
    return true;
  } catch {
    return false;
  }
}
