import numpy as np, pickle, json
D='/work/shared/toolmmbench/'
cat=[json.loads(l) for l in open(D+'catalog.jsonl')]; ids=[c['id'] for c in cat]; N=len(ids)
z=np.load('split.npz'); Xtr,ytr,Xdv,Xte,Ec,T=[z[k] for k in ['Xtr','ytr','Xdv','Xte','Ec','T']]
m=np.load('mpnet_emb.npz'); print(list(m.keys()))
trn,dev,te=pickle.load(open('split.pkl','rb'))
def acc(S,xs,k=1):
    top=np.argsort(-S,1)[:,:k]
    return round(float(np.mean([any(ids[j] in x['ans'] for j in t) for t,x in zip(top,xs)])),4)
def cent(X,y):
    C=np.zeros((N,X.shape[1])); cnt=np.zeros(N)
    np.add.at(C,y,X); np.add.at(cnt,y,1)
    C=C/np.maximum(cnt,1)[:,None]; return C/np.maximum(np.linalg.norm(C,axis=1,keepdims=True),1e-9)
def mix(E,C,w=0.3):
    M=w*E+(1-w)*C; return M/np.linalg.norm(M,axis=1,keepdims=True)
sets=[('test',te)]+([('dev',dev)] if 'dev' in m else [])
for nm,xs in sets:
    Xm=m[nm]; Xl={'test':Xte,'dev':Xdv}[nm]
    print(nm,'card-only minilm',acc(Xl@Ec.T,xs),acc(Xl@Ec.T,xs,5),'mpnet',acc(Xm@m['cards'].T,xs),acc(Xm@m['cards'].T,xs,5))
    if 'trsub' in m:
        sel=m['sel']; yl=ytr[sel]
        for w in [0.2,0.3,0.5]:
            Tl=mix(Ec,cent(Xtr[sel],yl),w); Tm=mix(m['cards'],cent(m['trsub'],yl),w)
            print(nm,'w',w,'minilm',acc(Xl@Tl.T,xs),acc(Xl@Tl.T,xs,5),'mpnet',acc(Xm@Tm.T,xs),acc(Xm@Tm.T,xs,5),
                  'concat',acc(Xl@Tl.T+Xm@Tm.T,xs),acc(Xl@Tl.T+Xm@Tm.T,xs,5))
