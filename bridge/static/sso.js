/*
 * sso.js: submits the help center sign-in form of /v1/sso/{name} as soon as the page is read.
 * Without scripts the visitor presses the form's button instead.
 */
(function () {
  "use strict";
  var form = document.getElementById("bridge-sso");
  if (form) {
    form.submit();
  }
})();
