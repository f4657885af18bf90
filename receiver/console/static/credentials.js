// runway-relay console and portal: of an endpoint's authentication, only the fields of the
// kind chosen show (none: none of them). Without it every field shows, each labelled with
// its kind, and the relay takes those of the kind chosen.
(function () {
  "use strict";

  function follow(select) {
    var box = select.closest(".credentials");
    var fields = box ? box.querySelectorAll(".auth-fields[data-auth]") : [];
    function show() {
      fields.forEach(function (group) {
        group.hidden = group.getAttribute("data-auth") !== select.value;
      });
    }
    select.addEventListener("change", show);
    show();
  }

  document.querySelectorAll(".credentials select[name=auth_type]").forEach(follow);
})();
