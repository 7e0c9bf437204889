/**
 * What `hangar launch` learns about a directory, before it becomes hangar.toml text. Detectors fill
 * these in; ./render.ts only formats them.
 */

/** What a language detector (Node, Python) worked out about an app. */
export interface RuntimeGuess {
  /** Headline for the summary, e.g. "Node app" or "Python app (Flask)". */
  kind: string;
  /** One line per thing found, shown to the user. */
  found: string[];
  /** Things the user should know, e.g. a lockfile the build command does not use. */
  notes: string[];
  buildCommand?: string;
  env: Record<string, string>;
  /** Set when the server shuts down gracefully on SIGTERM but not on hangar's default SIGINT. */
  killSignal?: 'SIGTERM';
  /** How to start it, and why that was chosen; absent when it could not be told. */
  start?: { command: string; why: string };
}

/** The service hangar's proxy routes to. */
export interface HttpPlan {
  /** The process group it serves; absent when the app has the one implicit group. */
  group?: string;
  port: number;
  healthPath: string;
}

export interface LaunchPlan {
  /** Headline such as "Node app" or "Dockerfile"; absent when nothing was recognised. */
  kind?: string;
  found: string[];
  notes: string[];
  /** What could not be worked out; the file carries a commented stand-in for each. */
  missing: string[];
  dockerfile?: string;
  buildCommand?: string;
  env: Record<string, string>;
  killSignal?: 'SIGTERM';
  /** Process group → command; empty means the image's own command (Docker) or not detected. */
  processes: Record<string, string>;
  releaseCommand?: string;
  http?: HttpPlan;
}

/** The port used when neither a Dockerfile nor the source names one. */
export const DEFAULT_PORT = 8080;
