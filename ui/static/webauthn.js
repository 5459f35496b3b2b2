// WebAuthn on the hosted pages: registering a passkey or security key (button#webauthn-register), using one as
// the second factor (button#webauthn-verify in form#mfa-webauthn, with input#remember-device when offered) and
// passkey sign-in (button#passkey-login).
// The button or an ancestor carries data-begin and data-finish (the JSON API), data-id (the sign-in request; absent
// on the account page, where the session says whose account it is) and data-csrf (sent as X-CSRF-Token). An
// external file because the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  // Errors the server answered, whose message is meant for people. reauth: where to confirm it's you first (the
  // account page's answer when a change needs a fresh sign-in).
  class ServerError extends Error {
    constructor(message, reauth) {
      super(message);
      this.reauth = reauth;
    }
  }

  // Only a path on this site: "//host" and "/\host" would leave it.
  function samePath(u) {
    return typeof u === "string" && /^\/(?![\/\\])/.test(u);
  }

  // Binary fields travel as base64url without padding (WebAuthn Level 3 §5.1.8, JSON serialisation).
  // atob decodes unpadded input (WHATWG forgiving-base64).
  function toBuffer(s) {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  }

  function toBase64url(buf) {
    let bin = "";
    for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeOptions(publicKey) {
    publicKey.challenge = toBuffer(publicKey.challenge);
    if (publicKey.user) publicKey.user.id = toBuffer(publicKey.user.id);
    for (const list of [publicKey.excludeCredentials, publicKey.allowCredentials]) {
      for (const c of list || []) c.id = toBuffer(c.id);
    }
    return publicKey;
  }

  // The credential as RegistrationResponseJSON / AuthenticationResponseJSON (WebAuthn Level 3 §5.1).
  function encodeCredential(cred) {
    const r = cred.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      if (typeof r.getTransports === "function") response.transports = r.getTransports();
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
    }
    return {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      response: response,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    };
  }

  async function postJSON(url, csrf, body) {
    let resp;
    try {
      resp = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      });
    } catch (e) {
      throw new ServerError("Could not reach the server. Check your connection and try again.");
    }
    let data = {};
    try {
      data = await resp.json();
    } catch (e) {
      // Not JSON: a proxy's error page, say. The status is all there is.
    }
    if (!resp.ok) {
      throw new ServerError(data.error || "Something went wrong (" + resp.status + "). Try again.", data.reauth);
    }
    return data;
  }

  function messageFor(err) {
    if (err instanceof ServerError) return err.message;
    switch (err && err.name) {
      case "NotAllowedError":
      case "AbortError":
        return "The request was cancelled or timed out. Try again.";
      case "InvalidStateError":
        return "This security key or passkey is already registered.";
      case "SecurityError":
        return "Passkeys cannot be used at this address. Tell your administrator.";
    }
    return "The security key or passkey did not work. Try again.";
  }

  // The page's message region: filled on failure, and only then an alert.
  function showMessage(text) {
    const region = document.getElementById("webauthn-error");
    if (!region) return;
    region.textContent = text;
    if (text) region.setAttribute("role", "alert");
    region.classList.toggle("alert", text !== "");
  }

  async function run(button, create) {
    const cfg = button.closest("[data-begin]");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    showMessage("");
    try {
      const options = await postJSON(cfg.dataset.begin, cfg.dataset.csrf, { id: cfg.dataset.id });
      const publicKey = decodeOptions(options.publicKey);
      const cred = create
        ? await navigator.credentials.create({ publicKey: publicKey })
        : await navigator.credentials.get({ publicKey: publicKey });
      const body = { id: cfg.dataset.id, session: options.session, credential: encodeCredential(cred) };
      const name = document.getElementById("webauthn-name");
      if (create && name && name.value.trim()) body.name = name.value.trim();
      const remember = document.getElementById("remember-device"); // the challenge page's "Remember this device"
      if (remember && remember.checked) body.remember_device = true;
      const done = await postJSON(cfg.dataset.finish, cfg.dataset.csrf, body);
      if (!done.redirect) throw new ServerError("Something went wrong. Reload the page and try again.");
      window.location.assign(done.redirect); // the button stays disabled while the next page loads
    } catch (err) {
      showMessage(messageFor(err));
      if (err instanceof ServerError && samePath(err.reauth)) {
        window.location.assign(err.reauth); // sign in again, then back to the page
        return;
      }
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  const supported = !!(window.PublicKeyCredential && navigator.credentials);
  for (const [id, create] of [["webauthn-register", true], ["webauthn-verify", false], ["passkey-login", false]]) {
    const button = document.getElementById(id);
    if (!button) continue;
    if (supported) {
      button.addEventListener("click", () => run(button, create));
    } else if (id === "passkey-login") {
      button.hidden = true; // the password form is right there: nothing to explain
      const box = button.closest(".alt-methods");
      if (box && Array.from(box.children).every((el) => el.hidden || el.textContent.trim() === "")) box.hidden = true;
    } else {
      button.disabled = true;
      showMessage("This browser cannot use passkeys or security keys. Choose another way, or use a current browser.");
    }
  }

  // Enter in the name field registers, as a form would.
  const name = document.getElementById("webauthn-name");
  const register = document.getElementById("webauthn-register");
  if (name && register) {
    name.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !register.disabled) {
        e.preventDefault();
        register.click();
      }
    });
  }
})();
