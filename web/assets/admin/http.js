// The console's requests beyond `api()`: file uploads (a logo, a plugin) sent as they are,
// query strings from filters, and failures in words.

import { ApiError, words } from '../api.js';
import { sessionToken } from '../embed.js';
import { t } from '../i18n.js';

/** `encodeURIComponent`, for ids in paths. */
export const seg = (value) => encodeURIComponent(value);

/**
 * PUTs a file with its own content type (`type`, else the file's); resolves to the JSON
 * answer and rejects with ApiError, as `api()` does.
 */
export async function upload(path, file, type = file.type) {
  const headers = { accept: 'application/json', 'content-type': type };
  const token = sessionToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method: 'PUT', credentials: 'same-origin', headers, body: file });
  } catch {
    throw new ApiError(0, t('error.network'), null);
  }
  const kind = response.headers.get('content-type') ?? '';
  let data = null;
  if (response.status !== 204 && kind.includes('json')) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (response.ok) return data;
  const problem = kind.includes('application/problem+json') ? data : null;
  throw new ApiError(response.status, words(response.status, problem), problem);
}

/** `?a=1&b=2` from the non-empty values of `params` (or '' when none). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') q.set(name, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

/** A failure in words: the service's, or a generic one. */
export function failed(error) {
  return error instanceof ApiError ? error.message : t('admin.failed');
}
