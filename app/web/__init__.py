"""La couche web : fabrique Flask, blueprints, erreurs HTTP, contrat OpenAPI, pages."""
