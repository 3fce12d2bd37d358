// A real OpenID provider for the workspace's sign-in tests: node-oidc-provider with its development
// interactions (any login name and password sign in; the login name becomes the subject and email address).
// Usage: node tests/web/oidc_provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
// Prints "ready" on standard output once it listens on 127.0.0.1:PORT.
import Provider from 'oidc-provider'

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2)
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: id, email_verified: true } } }
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  conformIdTokenClaims: false, // the email address in the ID token, as Entra ID's optional claim puts it
  cookies: { keys: ['only-for-tests'] },
  features: { devInteractions: { enabled: true } },
})
provider.listen(Number(port), '127.0.0.1', () => console.log('ready'))
