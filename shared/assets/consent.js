/* SMS consent checkbox for the BigCommerce checkout. See shared/src/checkout_script.rs.
 *
 * Waits for the checkout's phone field, puts an UNCHECKED checkbox with the store's consent text (fetched
 * from the app, built on the server) below it, and tells the app when the shopper ticks or unticks it.
 * It never blocks the purchase: no form is touched, nothing is awaited by the checkout, no error escapes. A
 * post the app refuses for load (429) or cannot take (5xx, no network) is retried a few times with backoff;
 * if the choice still could not be saved, the box returns to its saved state and says so under it, so a
 * shopper's tick is never silently lost. Plain JavaScript: no build step, no dependencies. */
(function () {
  "use strict";
  try {
    if (window.__smsConsentCheckbox) {
      return;
    }
    window.__smsConsentCheckbox = true;

    var script = document.currentScript;
    if (!script) {
      var candidates = document.querySelectorAll('script[src*="/consent.js"]');
      script = candidates[candidates.length - 1];
    }
    if (!script || !script.src) {
      return;
    }
    var source = new URL(script.src, window.location.href);
    var store = source.searchParams.get("store");
    if (!store) {
      return;
    }
    var base = source.origin + source.pathname.replace(/\/consent\.js$/, "");

    // Optimized One-Page Checkout names its fields `shippingAddress.phone`, ids `phoneInput`; themes vary.
    var PHONE_FIELDS = [
      'input[name="phone"]',
      'input[name$=".phone"]',
      'input[name$="[phone]"]',
      'input[id*="phone" i]',
      'input[type="tel"]',
      'input[autocomplete="tel"]'
    ].join(",");
    var COUNTRY_FIELDS = [
      'select[name="countryCode"]',
      'select[name$=".countryCode"]',
      'select[name$="[countryCode]"]',
      'select[id*="countryCode" i]'
    ].join(",");

    var disclosure = null;
    var checked = false;
    var box = null;
    var watchedPhone = null;
    var cartId = null;
    // Posts go one after another, so a quick tick-untick reaches the app in that order.
    var queue = Promise.resolve();
    // Waits before each retry of a refused or failed post (milliseconds); then the box says it failed.
    var RETRY_DELAYS = [1000, 2000, 4000];

    var findPhone = function () {
      var fields = document.querySelectorAll(PHONE_FIELDS);
      for (var i = 0; i < fields.length; i++) {
        if (fields[i].type !== "hidden" && fields[i].offsetParent !== null) {
          return fields[i];
        }
      }
      return null;
    };

    var country = function () {
      var select = document.querySelector(COUNTRY_FIELDS);
      return select && /^[A-Za-z]{2}$/.test(select.value) ? select.value : null;
    };

    // The checkout's id is its cart's id: from the page's checkout config, else the Storefront API.
    var findCart = function () {
      if (cartId) {
        return Promise.resolve(cartId);
      }
      var config = window.checkoutConfig || {};
      if (config.checkoutId) {
        cartId = String(config.checkoutId);
        return Promise.resolve(cartId);
      }
      return fetch("/api/storefront/carts", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (carts) {
          cartId = carts && carts.length ? String(carts[0].id) : null;
          return cartId;
        });
    };

    var send = function () {
      var phoneField = findPhone();
      var phone = phoneField ? phoneField.value.trim() : "";
      if (!phone) {
        return;
      }
      var isChecked = checked;
      queue = queue
        .then(findCart)
        .then(function (id) {
          if (!id) {
            return;
          }
          var body = JSON.stringify({
            store: store,
            cart_id: id,
            phone: phone,
            checked: isChecked,
            country: country(),
            page_url: window.location.origin + window.location.pathname,
            disclosure_version: disclosure.version
          });
          return post(body, 0);
        })
        .then(function (saved) {
          if (saved === false) {
            refused(isChecked);
          }
        })
        .catch(function () {});
    };

    // Resolves true when the app recorded the choice, false when it could not (after retrying what a retry
    // may fix: too many requests, an outage, no network).
    var post = function (body, attempt) {
      // text/plain keeps it a simple CORS request (no preflight); keepalive survives a page change.
      return fetch(base + "/consent?store=" + encodeURIComponent(store), {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        keepalive: true,
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        body: body
      })
        .then(function (r) { return r.ok ? true : (r.status === 429 || r.status >= 500) ? null : false; })
        .catch(function () { return null; })
        .then(function (saved) {
          if (saved !== null) {
            return saved;
          }
          if (attempt >= RETRY_DELAYS.length) {
            return false;
          }
          return new Promise(function (resolve) {
            window.setTimeout(resolve, RETRY_DELAYS[attempt]);
          }).then(function () { return post(body, attempt + 1); });
        });
    };

    // The choice was not saved: the box goes back to what the app holds, and says so.
    var refused = function (wasChecked) {
      if (checked !== wasChecked) {
        return; // The shopper changed it again meanwhile; that change is on its way.
      }
      checked = !wasChecked;
      var input = box && box.querySelector("input");
      if (input) {
        input.checked = checked;
      }
      showError(wasChecked
        ? "We couldn't save your choice, please tick again."
        : "We couldn't save your choice, please untick again.");
    };

    var showError = function (message) {
      if (!box) {
        return;
      }
      var note = box.querySelector("[data-sms-consent-error]");
      if (!note) {
        note = document.createElement("p");
        note.setAttribute("data-sms-consent-error", "");
        note.setAttribute("role", "alert");
        note.style.margin = "0.25rem 0 0";
        note.style.color = "#b00020";
        note.style.fontSize = "0.875rem";
        box.appendChild(note);
      }
      note.textContent = message;
    };

    var clearError = function () {
      var note = box && box.querySelector("[data-sms-consent-error]");
      if (note) {
        note.parentNode.removeChild(note);
      }
    };

    var build = function () {
      var wrapper = document.createElement("div");
      wrapper.className = "sms-consent form-field";
      wrapper.setAttribute("data-sms-consent", "");
      wrapper.style.margin = "0.75rem 0";
      var label = document.createElement("label");
      label.className = "form-label optimizedCheckout-form-label";
      label.style.display = "flex";
      label.style.gap = "0.5rem";
      label.style.alignItems = "flex-start";
      label.style.fontWeight = "normal";
      var input = document.createElement("input");
      input.type = "checkbox";
      input.id = "sms-consent-checkbox";
      input.name = "sms-consent";
      // Unticked unless the shopper ticked it themselves (the checkout re-renders its forms).
      input.checked = checked;
      input.defaultChecked = false;
      input.addEventListener("change", function () {
        checked = input.checked;
        clearError();
        send();
      });
      var text = document.createElement("span");
      text.className = "sms-consent-text";
      // Built and escaped on the server from the merchant's settings.
      text.innerHTML = disclosure.html;
      label.appendChild(input);
      label.appendChild(text);
      wrapper.appendChild(label);
      return wrapper;
    };

    var place = function () {
      try {
        var phoneField = findPhone();
        if (!phoneField) {
          return;
        }
        if (phoneField !== watchedPhone) {
          watchedPhone = phoneField;
          // A number changed after ticking is a tick for the new number.
          phoneField.addEventListener("change", function () {
            if (checked) {
              send();
            }
          });
        }
        if (box && document.body.contains(box)) {
          return;
        }
        box = build();
        var anchor = phoneField.closest(".form-field, .dynamic-form-field") || phoneField;
        anchor.parentNode.insertBefore(box, anchor.nextSibling);
      } catch (e) {
        /* never break the checkout */
      }
    };

    fetch(base + "/consent/disclosure?store=" + encodeURIComponent(store), { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d || typeof d.html !== "string" || typeof d.version !== "string") {
          return;
        }
        disclosure = d;
        place();
        var pending = false;
        new MutationObserver(function () {
          if (pending) {
            return;
          }
          pending = true;
          window.requestAnimationFrame(function () {
            pending = false;
            place();
          });
        }).observe(document.body, { childList: true, subtree: true });
      })
      .catch(function () {});
  } catch (e) {
    /* never break the checkout */
  }
})();
