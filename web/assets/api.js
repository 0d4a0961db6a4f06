// The API client: same-origin fetches under the session cookie. Failures become ApiError,
// whose message is words for people: the problem's `detail` (the service never puts a secret
// in it), never raw JSON.

export class ApiError extends Error {
  constructor(status, message, problem) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

const FALLBACK = {
  400: 'The request was not understood.',
  401: 'You are not signed in, or your session has ended. Sign in again.',
  403: 'Your role does not allow this.',
  404: 'That was not found. It may have been removed meanwhile.',
  409: 'That conflicts with a change made meanwhile. Reload the page and try again.',
  413: 'That is too large.',
  415: 'That kind of content is not accepted here.',
  422: 'Some of what you entered is not valid.',
  429: 'Too many requests. Wait a moment and try again.',
};

/** Words for a failed response: the problem's detail, else its title, else by status. */
export function words(status, problem) {
  if (problem && typeof problem.detail === 'string' && problem.detail.trim()) return problem.detail;
  if (problem && typeof problem.title === 'string' && problem.title.trim()) return problem.title;
  if (FALLBACK[status]) return FALLBACK[status];
  if (status >= 500) return 'The service had a problem and nothing was changed. Try again in a moment.';
  return `The service answered with an unexpected error (HTTP ${status}).`;
}

/** Calls the API; resolves to the JSON body (null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'The service could not be reached. Check your connection and try again.', null);
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
