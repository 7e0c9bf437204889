/**
 * The Docker runtime: each machine instance is a container on the host network, driven through the
 * Engine API over node:http (no client library). `DockerDriver` implements RuntimeDriver; `EngineClient`
 * is the small API client it uses; `buildImage` and `tar` build images from an in-memory context.
 */
export { buildImage, type BuildOptions } from './build.js';
export { DockerDriver, type DockerDriverOptions } from './docker-driver.js';
export { DEFAULT_DOCKER_SOCKET, EngineClient, EngineError, dockerUnavailable, engineEndpoint, type EngineEndpoint } from './engine.js';
export { tar, type TarEntry } from './tar.js';
