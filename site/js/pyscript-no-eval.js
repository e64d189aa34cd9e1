// JavaScript because it must act inside PyScript's JS before PyScript runs: it lets PyScript start under a CSP without 'unsafe-eval'.
//
// PyScript 0.6.66 reads `hooks.worker.onBeforeRunAsync` for every <script type="py">; that getter
// builds a function with Function(), which a Content-Security-Policy without 'unsafe-eval' forbids.
// The hook only registers the experimental pyscript.fs for workers, which these pages do not use, so
// it is emptied here, in the task that imports PyScript's core, before PyScript reads it.
// Any page of this site that runs PyScript imports this module (index.html through js/boot.js,
// /pyscript-example/ directly); pages without such a CSP do not need it.
import { hooks } from "../pyscript/core.js";

hooks.worker.onBeforeRunAsync.clear();
