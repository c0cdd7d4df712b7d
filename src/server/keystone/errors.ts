// Errors in Keystone's shape: {"error": {"code": 401, "message": "...", "title": "Unauthorized"}}.
// A KeystoneError carries `statusCode`, so fastify's default handler, or another plugin's,
// answers with the right status even outside the identity routes.

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Request Entity Too Large",
  415: "Unsupported Media Type",
  500: "Internal Server Error",
  501: "Not Implemented",
};

export function titleFor(code: number): string {
  return TITLES[code] ?? (code >= 500 ? "Internal Server Error" : "Error");
}

export interface KeystoneErrorBody {
  error: { code: number; message: string; title: string };
}

/** What Keystone says on every authentication failure, whatever the cause. */
export const AUTH_REQUIRED = "The request you have made requires authentication.";

export class KeystoneError extends Error {
  override name = "KeystoneError";
  constructor(
    readonly statusCode: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  get title(): string {
    return titleFor(this.statusCode);
  }

  body(): KeystoneErrorBody {
    return keystoneErrorBody(this.statusCode, this.message);
  }
}

export function keystoneErrorBody(code: number, message: string): KeystoneErrorBody {
  return { error: { code, message, title: titleFor(code) } };
}

export const badRequest = (message: string, options?: ErrorOptions) =>
  new KeystoneError(400, message, options);
export const unauthorized = (message = AUTH_REQUIRED, options?: ErrorOptions) =>
  new KeystoneError(401, message, options);
export const forbidden = (message: string) => new KeystoneError(403, message);
export const notFound = (message: string, options?: ErrorOptions) => new KeystoneError(404, message, options);
