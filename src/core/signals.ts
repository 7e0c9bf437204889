/**
 * The signals a machine can be sent (stop's `signal`, `stop_config.signal`, a restart's signal): the
 * POSIX signals both runtimes can deliver on Linux. Anything else is refused where it enters, with the
 * field named, so an unknown name never reaches a half-done stop.
 */
export const MACHINE_SIGNALS = [
  'SIGABRT',
  'SIGALRM',
  'SIGCONT',
  'SIGFPE',
  'SIGHUP',
  'SIGILL',
  'SIGINT',
  'SIGIO',
  'SIGKILL',
  'SIGPIPE',
  'SIGPROF',
  'SIGPWR',
  'SIGQUIT',
  'SIGSEGV',
  'SIGSTOP',
  'SIGSYS',
  'SIGTERM',
  'SIGTRAP',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGURG',
  'SIGUSR1',
  'SIGUSR2',
  'SIGVTALRM',
  'SIGWINCH',
  'SIGXCPU',
  'SIGXFSZ',
] as const;
export type MachineSignal = (typeof MACHINE_SIGNALS)[number];

export function isMachineSignal(s: string): s is MachineSignal {
  return (MACHINE_SIGNALS as readonly string[]).includes(s);
}
