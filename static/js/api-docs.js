// The /api/docs page: Swagger UI (static/vendor/swagger-ui, loaded before this with `defer`)
// on the hub's own OpenAPI document. validatorUrl: null keeps it from calling an outside
// validator: the page makes no external request.
const root = document.getElementById("swagger-ui");
if (root && window.SwaggerUIBundle) {
  window.SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
}
