/* Scan station helpers: keep the scan input focused, clear it after each scan, beep or
   buzz per outcome (Web Audio), and scan with the camera where BarcodeDetector exists.
   Everything here is optional: without JavaScript the station is a plain form. */
(function () {
  "use strict";
  var input = function () { return document.querySelector("[data-scan-input]"); };
  var audio = null;

  function isTyping(el) {
    return el && el !== document.body && el.matches("input, textarea, select, button, summary, a, [contenteditable]");
  }

  function refocus() {
    var box = input();
    if (box && !isTyping(document.activeElement)) { box.focus({ preventScroll: true }); }
  }

  function tone(kind) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var notes = kind === "ok" ? [[880, 0, 0.09]] : [[330, 0, 0.14], [250, 0.18, 0.22]];
      notes.forEach(function (n) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.type = kind === "ok" ? "sine" : "square";
        osc.frequency.value = n[0];
        gain.gain.value = 0.12;
        osc.connect(gain).connect(audio.destination);
        osc.start(audio.currentTime + n[1]);
        osc.stop(audio.currentTime + n[1] + n[2]);
      });
    } catch (e) { /* no audio: the colour still tells */ }
  }

  function announce(root) {
    var flagged = root.querySelector("[data-tone]");
    if (!flagged) { return; }
    var kind = flagged.getAttribute("data-tone");
    tone(kind);
    root.classList.remove("flash-ok", "flash-attention");
    void root.offsetWidth;
    root.classList.add(kind === "ok" ? "flash-ok" : "flash-attention");
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "scan-result") {
      var box = input();
      if (event.detail.requestConfig && event.detail.requestConfig.elt &&
          event.detail.requestConfig.elt.id === "scan-form" && box) {
        box.value = "";
        box.focus({ preventScroll: true });
      }
      announce(target);
      if (!document.activeElement || document.activeElement === document.body || !document.contains(document.activeElement)) {
        refocus();
      }
    }
  });

  /* A wedge scanner types wherever the focus is: when nothing editable has it, the
     first key goes to the scan input so no character of a scan is lost. */
  document.addEventListener("keydown", function (event) {
    var box = input();
    if (!box || event.ctrlKey || event.metaKey || event.altKey || event.key.length !== 1) { return; }
    var active = document.activeElement;
    if (active && active !== document.body && active.matches("input, textarea, select, [contenteditable]")) { return; }
    box.focus({ preventScroll: true });
  });

  document.addEventListener("click", function (event) {
    if (!isTyping(event.target) && !event.target.closest("form, details, a")) { refocus(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var result = document.getElementById("scan-result");
    if (result && result.querySelector("[data-tone]")) { announce(result); }
    refocus();
    setupCamera();
  });

  function setupCamera() {
    var button = document.querySelector("[data-camera]");
    var video = document.querySelector("[data-camera-video]");
    if (!button || !video || !("BarcodeDetector" in window) || !navigator.mediaDevices) { return; }
    button.hidden = false;
    var stream = null;
    var timer = null;
    function stop() {
      if (timer) { clearInterval(timer); timer = null; }
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      video.hidden = true;
      button.textContent = "Camera";
    }
    button.addEventListener("click", function () {
      if (stream) { stop(); return; }
      var detector;
      try {
        detector = new window.BarcodeDetector({ formats: ["code_128", "code_39", "qr_code", "data_matrix", "pdf417", "ean_13", "itf"] });
      } catch (e) { detector = new window.BarcodeDetector(); }
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        button.textContent = "Stop camera";
        return video.play();
      }).then(function () {
        var busy = false;
        timer = setInterval(function () {
          if (busy || !stream) { return; }
          busy = true;
          detector.detect(video).then(function (codes) {
            busy = false;
            if (codes.length) {
              var box = input();
              box.value = codes[0].rawValue;
              stop();
              box.form.requestSubmit();
            }
          }, function () { busy = false; });
        }, 250);
      }).catch(function () { stop(); tone("attention"); });
    });
  }
})();
