"""The tracking snippet served at /t.js: plain JavaScript, no build step.

    <script src="https://nurture.example.com/t.js" data-key="pk_..." async></script>

On load it sends `page.viewed` (the path) under an anonymous id kept in localStorage; when a form with
an email input is submitted it sends `form.submitted` with the address, which identifies the visitor.
"""

SNIPPET = r"""(function () {
  var script = document.currentScript;
  if (!script || !window.fetch) return;
  var key = script.getAttribute("data-key");
  var endpoint = new URL("/v1/track", script.src).href;
  var slot = "nurture_anonymous_id";
  function random() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }
  function anonymousId() {
    var id = null;
    try { id = localStorage.getItem(slot); } catch (e) { /* storage disabled */ }
    if (!id) {
      id = random();
      try { localStorage.setItem(slot, id); } catch (e) { /* one id per page then */ }
    }
    return id;
  }
  function send(type, props, email) {
    var body = {key: key, anonymous_id: anonymousId(), id: random(), type: type, props: props};
    if (email) body.email = email;
    return fetch(endpoint, {method: "POST", mode: "cors", credentials: "omit", keepalive: true,
                            headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
      .catch(function () { /* tracking never stands in the visitor's way */ });
  }
  var viewed = send("page.viewed", {url: location.pathname + location.search});
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var input = form.querySelector && form.querySelector("input[type=email], input[name=email]");
    if (!input || !input.value) return;
    event.preventDefault();
    var gone = false;
    function proceed() { if (!gone) { gone = true; form.submit(); } }
    var name = form.getAttribute("name") || form.id || form.getAttribute("action") || location.pathname;
    viewed.then(function () { return send("form.submitted", {form: name}, input.value); }).then(proceed, proceed);
    setTimeout(proceed, 2000);
  }, true);
})();
"""
