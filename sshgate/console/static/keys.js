// Security keys and passkeys: navigator.credentials for the forms marked data-webauthn
// ("create" in My profile, "get" at sign-in). The server makes the options and checks the
// answer; this file only carries them between the page and the authenticator.
"use strict";
(function () {
  var OPTIONS = { create: "/profile/keys/options", get: "/sign-in/key/options" };

  function fail(form, message) {
    var box = form.querySelector("[data-webauthn-error]");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }

  async function run(form) {
    var kind = form.dataset.webauthn;
    var body = new URLSearchParams();
    body.set("csrf", form.elements.csrf.value);
    if (form.elements.ticket) {
      body.set("ticket", form.elements.ticket.value);
    }
    var answer = await fetch(OPTIONS[kind], { method: "POST", body: body, credentials: "same-origin" });
    var data = await answer.json();
    if (!answer.ok) {
      fail(form, data.error || "security keys are not available");
      return;
    }
    var credential;
    if (kind === "create") {
      credential = await navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(data.options),
      });
    } else {
      credential = await navigator.credentials.get({
        publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(data.options),
      });
    }
    form.elements.challenge_id.value = data.challenge_id;
    form.elements.credential.value = JSON.stringify(credential.toJSON());
    form.submit();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-webauthn-start]");
    if (!button) {
      return;
    }
    var form = button.form;
    if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON) {
      fail(form, "this browser cannot use security keys or passkeys here");
      return;
    }
    run(form).catch(function (error) {
      fail(form, "the security key did not answer (" + error.name + ")");
    });
  });
})();
