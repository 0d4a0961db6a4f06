// The API client: same-origin fetches under the session cookie. Failures become ApiError,
// whose message is words for people: the problem's `detail` (the service never puts a secret
// in it), never raw JSON. A page opened by an iframe-mode connect link holds its session
// itself and sends it as a bearer token (`embed.js`).

import { sessionToken } from './embed.js';
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, message, problem) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

/** Words by status, for a failed response that brought none of its own. */
function fallback(status) {
  switch (status) {
    case 400: return t('error.400');
    case 401: return t('error.401');
    case 403: return t('error.403');
    case 404: return t('error.404');
    case 409: return t('error.409');
    case 413: return t('error.413');
    case 415: return t('error.415');
    case 422: return t('error.422');
    case 429: return t('error.429');
    default: return null;
  }
}

/** Words for a failed response: the problem's detail, else its title, else by status. */
export function words(status, problem) {
  if (problem && typeof problem.detail === 'string' && problem.detail.trim()) return problem.detail;
  if (problem && typeof problem.title === 'string' && problem.title.trim()) return problem.title;
  const known = fallback(status);
  if (known) return known;
  if (status >= 500) return t('error.server');
  return t('error.unexpected', { status: String(status) });
}

/** Calls the API; resolves to the JSON body (null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  const token = sessionToken();
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, t('error.network'), null);
  }
  const type = response.headers.get('content-type') ?? '';
  let data = null;
  if (response.status !== 204 && type.includes('json')) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (response.ok) return data;
  const problem = type.includes('application/problem+json') ? data : null;
  throw new ApiError(response.status, words(response.status, problem), problem);
}
