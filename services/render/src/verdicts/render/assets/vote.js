/* The vote buttons: before a vote form is sent, make sure this browser is a voter (the HttpOnly
   cookie, minted once against an ALTCHA v1 proof of work) and put the voter's CSRF token into the
   form; then send the form as the page would. Served by the site itself (CSP script-src 'self'). */
(() => {
  'use strict';

  const BATCH = 500; // digests awaited together
  const YIELD_MS = 50; // give the page a turn at least this often while solving
  const encoder = new TextEncoder();

  class Refusal extends Error {}

  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function bytesOf(hex) {
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    return bytes;
  }

  function same(buffer, expected) {
    const got = new Uint8Array(buffer);
    if (got.length !== expected.length) return false;
    for (let i = 0; i < got.length; i++) if (got[i] !== expected[i]) return false;
    return true;
  }

  /* The n in [0, maxnumber] with SHA-256(salt + n) == challenge, or null. */
  async function solve({ challenge, salt, maxnumber }) {
    if (!window.crypto || !crypto.subtle) throw new Refusal('Voting needs a secure (https) page.');
    const expected = bytesOf(challenge.toLowerCase());
    let turn = performance.now();
    for (let start = 0; start <= maxnumber; start += BATCH) {
      const end = Math.min(start + BATCH - 1, maxnumber);
      const pending = [];
      for (let n = start; n <= end; n++) pending.push(crypto.subtle.digest('SHA-256', encoder.encode(salt + n)));
      const digests = await Promise.all(pending);
      const found = digests.findIndex((digest) => same(digest, expected));
      if (found >= 0) return start + found;
      if (performance.now() - turn > YIELD_MS) {
        await wait(0);
        turn = performance.now();
      }
    }
    return null;
  }

  async function call(path, options = {}) {
    try {
      return await fetch(path, { credentials: 'same-origin', cache: 'no-store', ...options });
    } catch (_) {
      throw new Refusal('Could not reach the site. Check your connection and try again.');
    }
  }

  async function refusal(answer) {
    if (answer.status === 429) {
      const seconds = parseInt(answer.headers.get('Retry-After') || '', 10);
      return new Refusal(`Too many tries from here. Try again in ${seconds > 0 ? seconds : 'a few'} seconds.`);
    }
    let detail = '';
    try {
      detail = (await answer.json()).detail || '';
    } catch (_) { /* not problem+json */ }
    return new Refusal(`Your vote was not sent (${answer.status}${detail ? `: ${detail}` : ''}). Try again.`);
  }

  async function json(answer) {
    if (!answer.ok) throw await refusal(answer);
    return answer.json();
  }

  /* The CSRF token of this browser's voter, minting the voter first when there is none. */
  async function csrfToken() {
    const known = await call('/v1/voters/csrf');
    if (known.status !== 401) return (await json(known)).csrf;
    const challenge = await json(await call('/v1/voters/challenge'));
    const number = await solve(challenge);
    if (number === null) throw new Refusal('The check could not be solved. Reload the page and try again.');
    const { algorithm, salt, signature } = challenge;
    const altcha = btoa(JSON.stringify({ algorithm, challenge: challenge.challenge, number, salt, signature }));
    const minted = await call('/v1/voters', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ altcha }),
    });
    return (await json(minted)).csrf;
  }

  function show(status, text, failed) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle('failed', Boolean(failed));
  }

  function enable(box, on) {
    box.querySelectorAll('button').forEach((button) => { button.disabled = !on; });
  }

  document.addEventListener('submit', async (event) => {
    const form = event.target;
    const box = form instanceof HTMLFormElement && form.elements.csrf && form.closest('.vote');
    if (!box) return;
    event.preventDefault();
    if (box.dataset.busy) return;
    box.dataset.busy = '1';
    enable(box, false);
    const status = box.querySelector('.vote-status');
    show(status, 'Checking you are a person…');
    try {
      form.elements.csrf.value = await csrfToken();
      show(status, 'Sending your vote…');
      form.submit();
    } catch (error) {
      show(status, error instanceof Refusal ? error.message : 'Something went wrong. Try again.', true);
      enable(box, true);
      delete box.dataset.busy;
    }
  });

  // Back to a page kept in the back/forward cache: its buttons work again.
  window.addEventListener('pageshow', (event) => {
    if (!event.persisted) return;
    document.querySelectorAll('.vote').forEach((box) => {
      enable(box, true);
      delete box.dataset.busy;
      show(box.querySelector('.vote-status'), '');
    });
  });
})();
