/** Where the dashboard is served (the API's auth hook and the dashboard's routes both go by these). */

/** The dashboard's pages: every path the front end routes itself is answered with the same page. */
export const DASHBOARD_PAGES = ['/', '/login', '/apps/*'] as const;
/** Where the browser signs in (no session yet: needs no token). */
export const SIGN_IN_PATH = '/ui/session';
export const SIGN_OUT_PATH = '/ui/logout';
