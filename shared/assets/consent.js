/* The checkout consent script: see shared/src/checkout_script.rs. */
(function () {
  "use strict";
})();
